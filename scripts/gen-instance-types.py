#!/usr/bin/env python3
"""Writes crates/control/src/instance_types.rs: every instance type botocore's EC2 model lists
(the `InstanceType` enum), with vCPU, memory, architecture, burstable, bare-metal and GPU facts.

Names come from botocore; the facts from rules per family and size below, with exact figures
for the common families (t1/t2/t3/t3a/t4g, m1-m4, c1-c4, the ratio families m5/m6i/m7i/c5/c6i/
r5..., p3, g4dn, ...). Rerun after a botocore upgrade:

    python3 scripts/gen-instance-types.py > crates/control/src/instance_types.rs
"""
import gzip
import json
import os
import re

import botocore

MODEL = os.path.join(os.path.dirname(botocore.__file__), "data/ec2/2016-11-15/service-2.json")
if os.path.exists(MODEL):
    model = json.load(open(MODEL))
else:
    model = json.load(gzip.open(MODEL + ".gz"))
NAMES = sorted(set(model["shapes"]["InstanceType"]["enum"]))

# Exact (vCPUs, MiB) of the small and old types.
T_MEM = {"nano": 512, "micro": 1024, "small": 2048, "medium": 4096, "large": 8192,
         "xlarge": 16384, "2xlarge": 32768}
EXACT = {
    "t1.micro": (1, 627),
    "t2.nano": (1, 512), "t2.micro": (1, 1024), "t2.small": (1, 2048), "t2.medium": (2, 4096),
    "t2.large": (2, 8192), "t2.xlarge": (4, 16384), "t2.2xlarge": (8, 32768),
    "m1.small": (1, 1740), "m1.medium": (1, 3840), "m1.large": (2, 7680), "m1.xlarge": (4, 15360),
    "m2.xlarge": (2, 17510), "m2.2xlarge": (4, 35020), "m2.4xlarge": (8, 70042),
    "m3.medium": (1, 3840), "m3.large": (2, 7680), "m3.xlarge": (4, 15360), "m3.2xlarge": (8, 30720),
    "c1.medium": (2, 1740), "c1.xlarge": (8, 7168),
    "c3.large": (2, 3840), "c3.xlarge": (4, 7680), "c3.2xlarge": (8, 15360),
    "c3.4xlarge": (16, 30720), "c3.8xlarge": (32, 61440),
    "c4.large": (2, 3840), "c4.xlarge": (4, 7680), "c4.2xlarge": (8, 15360),
    "c4.4xlarge": (16, 30720), "c4.8xlarge": (36, 61440),
    "cc2.8xlarge": (32, 61952), "cr1.8xlarge": (32, 249856), "hi1.4xlarge": (16, 61952),
    "hs1.8xlarge": (16, 119808), "cg1.4xlarge": (16, 23040), "cc1.4xlarge": (16, 23552),
    "g2.2xlarge": (8, 15360), "g2.8xlarge": (32, 61440),
    "m4.10xlarge": (40, 163840), "m4.16xlarge": (64, 262144),
    "c5.9xlarge": (36, 73728), "c5.18xlarge": (72, 147456), "c5d.9xlarge": (36, 73728),
    "c5d.18xlarge": (72, 147456), "c5n.large": (2, 5376), "c5n.xlarge": (4, 10752),
    "c5n.2xlarge": (8, 21504), "c5n.4xlarge": (16, 43008), "c5n.9xlarge": (36, 98304),
    "c5n.18xlarge": (72, 196608), "c5n.metal": (72, 196608),
    "i3.metal": (72, 524288), "mac1.metal": (12, 32768), "mac2.metal": (8, 16384),
    "mac2-m2.metal": (8, 24576), "mac2-m2pro.metal": (12, 32768), "mac2-m1ultra.metal": (20, 131072),
    "a1.metal": (16, 32768), "p3dn.24xlarge": (96, 786432), "p4d.24xlarge": (96, 1179648),
    "p4de.24xlarge": (96, 1179648), "p5.48xlarge": (192, 2097152), "p5e.48xlarge": (192, 2097152),
    "p5en.48xlarge": (192, 2097152), "g4dn.metal": (96, 393216), "g4dn.12xlarge": (48, 196608),
    "x1.16xlarge": (64, 999424), "x1.32xlarge": (128, 1998848), "h1.16xlarge": (64, 262144),
    "hpc6a.48xlarge": (96, 393216), "hpc6id.32xlarge": (64, 1048576), "hpc7g.16xlarge": (64, 131072),
    "hpc7a.96xlarge": (192, 786432),
}
# GiB of memory per vCPU, by family (then by the family's first letters).
RATIO = {
    "c3": 1.875, "c4": 1.875, "r3": 7.625, "r4": 7.625, "i2": 7.625, "i3": 7.625, "d2": 7.625,
    "p3": 7.625, "g3": 7.625, "g3s": 7.625, "p2": 15.25, "x1": 15.25, "x1e": 30.5, "f1": 15.25,
    "x2iedn": 32, "x2iezn": 32, "x8aedz": 32, "p3dn": 8, "d3en": 4, "im4gn": 4, "is4gen": 6,
    "g5g": 2, "g6e": 8, "g4ad": 4, "inf1": 2, "inf2": 4, "trn1": 16, "trn1n": 16, "trn2": 16,
    "dl1": 8, "dl2q": 8, "vt1": 2, "h1": 4, "z1d": 8, "m5zn": 4, "f2": 16, "p6-b200": 10.67,
    "p6-b300": 21.33, "p6e-gb200": 5.33, "g6f": 4, "gr6": 8, "gr6f": 8, "g7e": 8, "x8i": 16,
    "m4": 4, "c5n": 2.625, "i4i": 8, "i3en": 8, "i4g": 8, "i7i": 8, "i7ie": 8, "i8g": 8,
    "i8ge": 8, "m8azn": 4,
}
LETTER_RATIO = {"c": 2, "m": 4, "r": 8, "x": 16, "z": 8, "i": 8, "d": 8, "g": 4, "p": 8, "a": 2,
                "t": 4, "h": 4}

PREVIOUS = {"t1", "m1", "m2", "m3", "c1", "c3", "cc1", "cc2", "cg1", "cr1", "g2", "hi1", "hs1",
            "i2", "r3"}
XEN = PREVIOUS | {"t2", "m4", "c4", "r4", "x1", "x1e", "i3", "d2", "g3", "g3s", "p2", "p3", "h1",
                  "f1"}
BURSTABLE = {"t2", "t3", "t3a", "t4g"}
FREE_TIER = {"t2.micro", "t3.micro"}

# GPUs: family -> (name, manufacturer, MiB each, {size: count}, default count).
GPUS = {
    "p2": ("K80", "NVIDIA", 12288, {"xlarge": 1, "8xlarge": 8, "16xlarge": 16}, 1),
    "p3": ("V100", "NVIDIA", 16384, {"2xlarge": 1, "8xlarge": 4, "16xlarge": 8}, 1),
    "p3dn": ("V100", "NVIDIA", 32768, {}, 8),
    "p4d": ("A100", "NVIDIA", 40960, {}, 8),
    "p4de": ("A100", "NVIDIA", 81920, {}, 8),
    "p5": ("H100", "NVIDIA", 81920, {"4xlarge": 1}, 8),
    "p5e": ("H200", "NVIDIA", 144384, {}, 8),
    "p5en": ("H200", "NVIDIA", 144384, {}, 8),
    "p6-b200": ("B200", "NVIDIA", 183359, {}, 8),
    "p6-b300": ("B300", "NVIDIA", 274400, {}, 8),
    "p6e-gb200": ("GB200", "NVIDIA", 189471, {}, 4),
    "g2": ("K520", "NVIDIA", 4096, {"8xlarge": 4}, 1),
    "g3": ("M60", "NVIDIA", 8192, {"4xlarge": 1, "8xlarge": 2, "16xlarge": 4}, 1),
    "g3s": ("M60", "NVIDIA", 8192, {}, 1),
    "g4dn": ("T4", "NVIDIA", 16384, {"12xlarge": 4, "metal": 8}, 1),
    "g4ad": ("Radeon Pro V520", "AMD", 8192, {"8xlarge": 2, "16xlarge": 4}, 1),
    "g5": ("A10G", "NVIDIA", 24576, {"12xlarge": 4, "24xlarge": 4, "48xlarge": 8}, 1),
    "g5g": ("T4g", "NVIDIA", 16384, {"16xlarge": 2, "metal": 2}, 1),
    "g6": ("L4", "NVIDIA", 22888, {"12xlarge": 4, "24xlarge": 4, "48xlarge": 8}, 1),
    "gr6": ("L4", "NVIDIA", 22888, {}, 1),
    "g6e": ("L40S", "NVIDIA", 45776, {"12xlarge": 2, "24xlarge": 4, "48xlarge": 8}, 1),
    "g6f": ("L4", "NVIDIA", 2861, {}, 1),
    "gr6f": ("L4", "NVIDIA", 11444, {}, 1),
    "g7e": ("RTX PRO 6000", "NVIDIA", 97871, {"24xlarge": 4, "48xlarge": 8}, 1),
}


def family_parts(family):
    """(series letters, generation digits, suffix) of `m6gd`, `mac2-m2`, `u-6tb1`."""
    m = re.match(r"([a-z]+)(\d*)([a-z-]*)", family)
    return m.group(1), m.group(2), m.group(3)


def is_arm(family):
    series, gen, suffix = family_parts(family)
    if family.startswith("mac"):
        return None  # mac types have their own architectures
    if family in ("a1",) or family.startswith("hpc7g") or family.startswith("p6e-gb"):
        return True
    return "g" in suffix.split("-")[0] and series not in ("u",)


def size_vcpus(family, size, sizes):
    if size == "nano" or size == "micro" or size == "small":
        return 2 if family in ("t3", "t3a", "t4g") else 1
    if size == "medium":
        return 2 if family in ("t2", "t3", "t3a", "t4g", "c1") else 1
    if size == "large":
        return 2
    if size == "xlarge":
        return 4
    m = re.match(r"(\d+)xlarge$", size)
    if m:
        return 4 * int(m.group(1))
    m = re.match(r"metal-(\d+)xl$", size)
    if m:
        return 4 * int(m.group(1))
    if size.startswith("metal") or size.endswith("metal"):
        biggest = [size_vcpus(family, s, []) for s in sizes if re.match(r"\d*xlarge$", s)]
        return max(biggest) if biggest else 96
    return 2


def memory_mib(family, size, vcpus):
    if family in ("t3", "t3a", "t4g") and size in T_MEM:
        return T_MEM[size]
    m = re.match(r"u\d*[a-z]*-(\d+)tb", family)
    if m:
        return int(m.group(1)) * 1024 * 1024
    ratio = RATIO.get(family)
    if ratio is None:
        series, _, _ = family_parts(family)
        ratio = LETTER_RATIO.get(series[0], 4)
        if family.endswith("-flex"):
            ratio = LETTER_RATIO.get(series[0], 4)
    return int(round(vcpus * ratio * 1024))


def network(family, size, vcpus, xen):
    """(performance, max interfaces, IPv4 per interface)."""
    if family in ("t2",):
        perf = "Low to Moderate" if size in ("nano", "micro", "small") else "Moderate"
        eni = {"nano": (2, 2), "micro": (2, 2), "small": (2, 4), "medium": (3, 6),
               "large": (3, 12)}.get(size, (3, 15))
        return perf, eni[0], eni[1]
    if family in ("t3", "t3a", "t4g"):
        eni = {"nano": (2, 2), "micro": (2, 2), "small": (3, 4), "medium": (3, 6),
               "large": (3, 12)}.get(size, (4, 15))
        return "Up to 5 Gigabit", eni[0], eni[1]
    if family == "t1":
        return "Very Low", 2, 2
    if family in PREVIOUS:
        perf = "Low" if vcpus <= 1 else "Moderate" if vcpus <= 4 else "High"
        if vcpus >= 32:
            perf = "10 Gigabit"
        eni = 2 if vcpus <= 1 else 3 if vcpus <= 2 else 4 if vcpus <= 8 else 8
        ips = 4 if vcpus <= 1 else 10 if vcpus <= 2 else 15 if vcpus <= 8 else 30
        return perf, eni, ips
    if xen:
        perf = "Moderate" if vcpus <= 2 else "High" if vcpus <= 8 else "10 Gigabit"
        if vcpus >= 64:
            perf = "25 Gigabit" if family not in ("m4", "c4", "x1") else "20 Gigabit"
    else:
        _, gen, _ = family_parts(family)
        gen = int(gen or 5)
        if vcpus <= 16:
            perf = "Up to 10 Gigabit" if gen <= 5 else "Up to 12.5 Gigabit"
        elif vcpus <= 36:
            perf = "10 Gigabit" if gen <= 5 else "12.5 Gigabit"
        elif vcpus <= 48:
            perf = "12 Gigabit" if gen <= 5 else "18.75 Gigabit"
        elif vcpus <= 64:
            perf = "20 Gigabit" if gen <= 5 else "25 Gigabit"
        elif vcpus <= 96:
            perf = "25 Gigabit" if gen <= 5 else "37.5 Gigabit"
        else:
            perf = "50 Gigabit"
    if vcpus <= 1:
        return perf, 2, 4
    if vcpus <= 2:
        return perf, 3, 10
    if vcpus <= 8:
        return perf, 4, 15
    if vcpus <= 48:
        return perf, 8, 30
    return perf, 15, 50


def rust_str(s):
    return json.dumps(s)


def main():
    by_family = {}
    for n in NAMES:
        f, s = n.split(".", 1)
        by_family.setdefault(f, []).append(s)
    rows = []
    for n in NAMES:
        family, size = n.split(".", 1)
        metal = "metal" in size
        if n in EXACT:
            vcpus, mem = EXACT[n]
        else:
            vcpus = size_vcpus(family, size, by_family[family])
            mem = memory_mib(family, size, vcpus)
        arm = is_arm(family)
        if family.startswith("mac"):
            arch = "MAC_ARM" if family != "mac1" else "MAC_X86"
            arm = family != "mac1"
        elif arm:
            arch = "ARM"
        elif family in ("t1", "t2", "m1", "m3", "c1") and vcpus <= 2:
            arch = "OLD_X86"
        else:
            arch = "X86"
        xen = family in XEN and not metal
        threads = 1 if (arm or vcpus == 1 or family in ("t1", "t2", "m1", "m2", "m3", "c1")
                        or family.startswith("hpc")) else 2
        if family == "t2" or family in PREVIOUS:
            threads = 1
        cores = max(1, vcpus // threads)
        perf, enis, ips = network(family, size, vcpus, xen)
        ipv6 = 0 if family in PREVIOUS else ips
        clock = 0.0 if family in PREVIOUS else (2.5 if arm or family == "t2" else 3.1)
        hyper = "" if metal else ("xen" if xen else "nitro")
        gpu = "None"
        if family in GPUS:
            gname, maker, gmem, counts, default = GPUS[family]
            count = counts.get(size, default)
            gpu = (f"Some(Gpus {{ name: {rust_str(gname)}, manufacturer: {rust_str(maker)}, "
                   f"count: {count}, memory_mib: {gmem} }})")
        rows.append(
            f"    InstanceType {{ name: {rust_str(n)}, current_generation: {str(family not in PREVIOUS).lower()}, "
            f"free_tier_eligible: {str(n in FREE_TIER).lower()}, architectures: {arch}, "
            f"clock_ghz: {clock:.1f}, vcpus: {vcpus}, cores: {cores}, threads_per_core: {threads}, "
            f"memory_mib: {mem}, network_performance: {rust_str(perf)}, max_interfaces: {enis}, "
            f"ipv4_per_interface: {ips}, ipv6_per_interface: {ipv6}, "
            f"burstable: {str(family in BURSTABLE).lower()}, bare_metal: {str(metal).lower()}, "
            f"hypervisor: {rust_str(hyper)}, gpus: {gpu} }},")
    print("//! Every instance type EC2 knows (botocore's `InstanceType` enum), sorted by name.")
    print("//! Generated by scripts/gen-instance-types.py: do not edit by hand.")
    print()
    print("use crate::image::{ARM, Gpus, InstanceType, MAC_ARM, MAC_X86, OLD_X86, X86};")
    print()
    print("/// The instance types every zone offers, by name.")
    print("#[rustfmt::skip]")
    print("pub const INSTANCE_TYPES: &[InstanceType] = &[")
    print("\n".join(rows))
    print("];")


main()

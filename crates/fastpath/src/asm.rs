//! A tiny eBPF assembler: just enough of the instruction set to write the fast path's
//! programs in Rust, without clang or an ELF loader.
//!
//! Encodings follow the kernel's `include/uapi/linux/bpf.h` (and RFC 9669): an instruction
//! is 8 bytes, `code` (operation | source | class), `dst_reg` in the low and `src_reg` in
//! the high nibble of the second byte, a signed 16-bit `off` and a signed 32-bit `imm`, all
//! little-endian (this crate targets little-endian hosts only). `ld_imm64` takes two
//! slots. Jumps name [`Label`]s; [`Asm::finish`] turns them into offsets relative to the
//! next instruction, counted in slots.

use std::fmt;

/// A register. `R10` is the read-only frame pointer; `R1`–`R5` are arguments and are
/// clobbered by calls, `R6`–`R9` survive calls, `R0` holds return values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reg(u8);

pub const R0: Reg = Reg(0);
pub const R1: Reg = Reg(1);
pub const R2: Reg = Reg(2);
pub const R3: Reg = Reg(3);
pub const R4: Reg = Reg(4);
pub const R5: Reg = Reg(5);
pub const R6: Reg = Reg(6);
pub const R7: Reg = Reg(7);
pub const R8: Reg = Reg(8);
pub const R9: Reg = Reg(9);
pub const R10: Reg = Reg(10);

// instruction classes
const LD: u8 = 0x00;
const LDX: u8 = 0x01;
const ST: u8 = 0x02;
const STX: u8 = 0x03;
const ALU: u8 = 0x04;
const JMP: u8 = 0x05;
const ALU64: u8 = 0x07;
// operand source
const K: u8 = 0x00;
const X: u8 = 0x08;
// modes
const IMM: u8 = 0x00;
const MEM: u8 = 0x60;
const ATOMIC: u8 = 0xc0;
// misc
const END: u8 = 0xd0;
const TO_BE: u8 = 0x08;
const CALL: u8 = 0x80;
const EXIT: u8 = 0x90;
const JA: u8 = 0x00;
/// `src_reg` of an `ld_imm64` whose immediate is a map file descriptor.
pub const PSEUDO_MAP_FD: u8 = 1;

/// `n` as a 32-bit immediate. Use it in a const context (`const { imm32(N) }` or a
/// `const` item), where a value that does not fit fails the build.
pub const fn imm32(n: usize) -> i32 {
    assert!(n <= i32::MAX as usize, "immediate out of range");
    #[allow(clippy::cast_possible_truncation)] // n <= i32::MAX, checked just above
    let imm = n as i32;
    imm
}

/// Width of a memory access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    B,
    H,
    W,
    DW,
}

impl Size {
    fn bits(self) -> u8 {
        match self {
            Size::W => 0x00,
            Size::H => 0x08,
            Size::B => 0x10,
            Size::DW => 0x18,
        }
    }
}

/// Arithmetic and logic operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alu {
    Add,
    Sub,
    Mul,
    Div,
    Or,
    And,
    Lsh,
    Rsh,
    Mod,
    Xor,
    Mov,
    Arsh,
}

impl Alu {
    fn bits(self) -> u8 {
        match self {
            Alu::Add => 0x00,
            Alu::Sub => 0x10,
            Alu::Mul => 0x20,
            Alu::Div => 0x30,
            Alu::Or => 0x40,
            Alu::And => 0x50,
            Alu::Lsh => 0x60,
            Alu::Rsh => 0x70,
            Alu::Mod => 0x90,
            Alu::Xor => 0xa0,
            Alu::Mov => 0xb0,
            Alu::Arsh => 0xc0,
        }
    }
}

/// Jump conditions (64-bit comparisons; `Gt`/`Ge`/`Lt`/`Le` unsigned, `S*` signed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cond {
    Eq,
    Gt,
    Ge,
    /// `dst & src != 0`
    Set,
    Ne,
    Sgt,
    Sge,
    Lt,
    Le,
    Slt,
    Sle,
}

impl Cond {
    fn bits(self) -> u8 {
        match self {
            Cond::Eq => 0x10,
            Cond::Gt => 0x20,
            Cond::Ge => 0x30,
            Cond::Set => 0x40,
            Cond::Ne => 0x50,
            Cond::Sgt => 0x60,
            Cond::Sge => 0x70,
            Cond::Lt => 0xa0,
            Cond::Le => 0xb0,
            Cond::Slt => 0xc0,
            Cond::Sle => 0xd0,
        }
    }
}

/// One 8-byte instruction slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    const fn new(code: u8, dst: Reg, src: Reg, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            dst: dst.0,
            src: src.0,
            off,
            imm,
        }
    }

    /// The kernel's `struct bpf_insn` layout.
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = (self.src << 4) | (self.dst & 0x0f);
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }
}

/// A jump target, bound to a position with [`Asm::bind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label(usize);

/// Why a program could not be assembled.
#[derive(Debug, PartialEq, Eq)]
pub enum AsmError {
    /// A jump names a label that was never bound.
    Unbound(usize),
    /// A label was bound twice.
    Rebound(usize),
    /// A jump is farther than a signed 16-bit offset reaches.
    TooFar { at: usize, distance: i64 },
}

impl fmt::Display for AsmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AsmError::Unbound(l) => write!(f, "label {l} is never bound"),
            AsmError::Rebound(l) => write!(f, "label {l} is bound twice"),
            AsmError::TooFar { at, distance } => {
                write!(f, "jump at {at} spans {distance} slots")
            }
        }
    }
}

impl std::error::Error for AsmError {}

/// Builds a program instruction by instruction.
#[derive(Default)]
pub struct Asm {
    insns: Vec<Insn>,
    labels: Vec<Option<usize>>,
    /// (slot of the jump, label) pairs to patch in `finish`.
    fixups: Vec<(usize, usize)>,
    rebound: Option<usize>,
}

impl Asm {
    pub fn new() -> Asm {
        Asm::default()
    }

    /// Slots emitted so far (the position the next instruction takes).
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }

    /// A fresh, unbound label.
    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Binds `l` to the next instruction.
    pub fn bind(&mut self, l: Label) {
        if self.labels[l.0].is_some() {
            self.rebound.get_or_insert(l.0);
        }
        self.labels[l.0] = Some(self.insns.len());
    }

    fn push(&mut self, i: Insn) -> &mut Asm {
        self.insns.push(i);
        self
    }

    /// `dst op= imm` on 64 bits.
    pub fn alu64_imm(&mut self, op: Alu, dst: Reg, imm: i32) -> &mut Asm {
        self.push(Insn::new(ALU64 | op.bits() | K, dst, R0, 0, imm))
    }

    /// `dst op= src` on 64 bits.
    pub fn alu64(&mut self, op: Alu, dst: Reg, src: Reg) -> &mut Asm {
        self.push(Insn::new(ALU64 | op.bits() | X, dst, src, 0, 0))
    }

    /// `dst op= imm` on the low 32 bits (the high 32 bits are zeroed).
    pub fn alu32_imm(&mut self, op: Alu, dst: Reg, imm: i32) -> &mut Asm {
        self.push(Insn::new(ALU | op.bits() | K, dst, R0, 0, imm))
    }

    /// `dst = imm` (sign-extended to 64 bits).
    pub fn mov_imm(&mut self, dst: Reg, imm: i32) -> &mut Asm {
        self.alu64_imm(Alu::Mov, dst, imm)
    }

    /// `dst = src`.
    pub fn mov(&mut self, dst: Reg, src: Reg) -> &mut Asm {
        self.alu64(Alu::Mov, dst, src)
    }

    /// `dst = htobe16(dst)` / `htobe32` / `htobe64`: byte swap on this little-endian host.
    pub fn to_be(&mut self, dst: Reg, bits: i32) -> &mut Asm {
        self.push(Insn::new(ALU | END | TO_BE, dst, R0, 0, bits))
    }

    /// `dst = *(size *)(src + off)`, zero-extended.
    pub fn ldx(&mut self, size: Size, dst: Reg, src: Reg, off: i16) -> &mut Asm {
        self.push(Insn::new(LDX | MEM | size.bits(), dst, src, off, 0))
    }

    /// `*(size *)(dst + off) = src`.
    pub fn stx(&mut self, size: Size, dst: Reg, off: i16, src: Reg) -> &mut Asm {
        self.push(Insn::new(STX | MEM | size.bits(), dst, src, off, 0))
    }

    /// `*(size *)(dst + off) = imm`.
    pub fn st(&mut self, size: Size, dst: Reg, off: i16, imm: i32) -> &mut Asm {
        self.push(Insn::new(ST | MEM | size.bits(), dst, R0, off, imm))
    }

    /// `lock *(size *)(dst + off) += src` (`size` is `W` or `DW`).
    pub fn atomic_add(&mut self, size: Size, dst: Reg, off: i16, src: Reg) -> &mut Asm {
        self.push(Insn::new(STX | ATOMIC | size.bits(), dst, src, off, 0))
    }

    /// `dst = imm` for a full 64-bit immediate (two slots).
    pub fn ld_imm64(&mut self, dst: Reg, imm: u64) -> &mut Asm {
        // the low 32 bits in the first slot, the high in the second
        let b = imm.to_le_bytes();
        let lo = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let hi = i32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        self.push(Insn::new(LD | IMM | Size::DW.bits(), dst, R0, 0, lo));
        self.push(Insn::new(0, R0, R0, 0, hi))
    }

    /// `dst = &map` for the map behind file descriptor `fd` (the kernel swaps the fd for
    /// the map's address when it loads the program).
    pub fn ld_map_fd(&mut self, dst: Reg, fd: i32) -> &mut Asm {
        self.push(Insn {
            code: LD | IMM | Size::DW.bits(),
            dst: dst.0,
            src: PSEUDO_MAP_FD,
            off: 0,
            imm: fd,
        });
        self.push(Insn::new(0, R0, R0, 0, 0))
    }

    fn jump(&mut self, code: u8, dst: Reg, src: Reg, imm: i32, to: Label) -> &mut Asm {
        self.fixups.push((self.insns.len(), to.0));
        self.push(Insn::new(code, dst, src, 0, imm))
    }

    /// `if dst cond imm goto to`.
    pub fn jmp_imm(&mut self, cond: Cond, dst: Reg, imm: i32, to: Label) -> &mut Asm {
        self.jump(JMP | cond.bits() | K, dst, R0, imm, to)
    }

    /// `if dst cond src goto to`.
    pub fn jmp(&mut self, cond: Cond, dst: Reg, src: Reg, to: Label) -> &mut Asm {
        self.jump(JMP | cond.bits() | X, dst, src, 0, to)
    }

    /// `goto to`.
    pub fn ja(&mut self, to: Label) -> &mut Asm {
        self.jump(JMP | JA, R0, R0, 0, to)
    }

    /// Calls helper number `helper` (arguments in R1–R5, result in R0).
    pub fn call(&mut self, helper: i32) -> &mut Asm {
        self.push(Insn::new(JMP | CALL, R0, R0, 0, helper))
    }

    /// Returns R0.
    pub fn exit(&mut self) -> &mut Asm {
        self.push(Insn::new(JMP | EXIT, R0, R0, 0, 0))
    }

    /// `R0 = code; exit`.
    pub fn ret(&mut self, code: i32) -> &mut Asm {
        self.mov_imm(R0, code).exit()
    }

    /// Resolves the jumps and returns the program.
    pub fn finish(mut self) -> Result<Vec<Insn>, AsmError> {
        if let Some(l) = self.rebound {
            return Err(AsmError::Rebound(l));
        }
        for &(at, label) in &self.fixups {
            let target = self.labels[label].ok_or(AsmError::Unbound(label))?;
            let distance = target as i64 - (at as i64 + 1);
            let off = i16::try_from(distance).map_err(|_| AsmError::TooFar { at, distance })?;
            self.insns[at].off = off;
        }
        Ok(self.insns)
    }
}

/// The program as the bytes `BPF_PROG_LOAD` takes.
pub fn to_bytes(insns: &[Insn]) -> Vec<u8> {
    insns.iter().flat_map(|i| i.to_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(f: impl FnOnce(&mut Asm)) -> [u8; 8] {
        let mut a = Asm::new();
        f(&mut a);
        let p = a.finish().unwrap();
        assert_eq!(p.len(), 1);
        p[0].to_bytes()
    }

    // Reference encodings as `bpftool prog dump xlated` / llvm-objdump print them.
    #[test]
    fn known_encodings() {
        // r0 = 0 ; exit
        assert_eq!(
            one(|a| {
                a.mov_imm(R0, 0);
            }),
            [0xb7, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            one(|a| {
                a.exit();
            }),
            [0x95, 0, 0, 0, 0, 0, 0, 0]
        );
        // r0 = -1
        assert_eq!(
            one(|a| {
                a.mov_imm(R0, -1);
            }),
            [0xb7, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]
        );
        // r6 = r1
        assert_eq!(
            one(|a| {
                a.mov(R6, R1);
            }),
            [0xbf, 0x16, 0, 0, 0, 0, 0, 0]
        );
        // r2 = *(u32 *)(r6 + 76)
        assert_eq!(
            one(|a| {
                a.ldx(Size::W, R2, R6, 76);
            }),
            [0x61, 0x62, 76, 0, 0, 0, 0, 0]
        );
        // r3 = *(u16 *)(r7 + 12)
        assert_eq!(
            one(|a| {
                a.ldx(Size::H, R3, R7, 12);
            }),
            [0x69, 0x73, 12, 0, 0, 0, 0, 0]
        );
        // r3 = *(u8 *)(r7 + 23)
        assert_eq!(
            one(|a| {
                a.ldx(Size::B, R3, R7, 23);
            }),
            [0x71, 0x73, 23, 0, 0, 0, 0, 0]
        );
        // *(u64 *)(r10 - 8) = r1
        assert_eq!(
            one(|a| {
                a.stx(Size::DW, R10, -8, R1);
            }),
            [0x7b, 0x1a, 0xf8, 0xff, 0, 0, 0, 0]
        );
        // *(u32 *)(r10 - 4) = 6
        assert_eq!(
            one(|a| {
                a.st(Size::W, R10, -4, 6);
            }),
            [0x62, 0x0a, 0xfc, 0xff, 6, 0, 0, 0]
        );
        // lock *(u64 *)(r9 + 8) += r1
        assert_eq!(
            one(|a| {
                a.atomic_add(Size::DW, R9, 8, R1);
            }),
            [0xdb, 0x19, 8, 0, 0, 0, 0, 0]
        );
        // r2 += -24
        assert_eq!(
            one(|a| {
                a.alu64_imm(Alu::Add, R2, -24);
            }),
            [0x07, 0x02, 0, 0, 0xe8, 0xff, 0xff, 0xff]
        );
        // r4 &= 0xffff ; r4 ^= r5 ; w4 >>= 16
        assert_eq!(
            one(|a| {
                a.alu64_imm(Alu::And, R4, 0xffff);
            }),
            [0x57, 0x04, 0, 0, 0xff, 0xff, 0, 0]
        );
        assert_eq!(
            one(|a| {
                a.alu64(Alu::Xor, R4, R5);
            }),
            [0xaf, 0x54, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            one(|a| {
                a.alu32_imm(Alu::Rsh, R4, 16);
            }),
            [0x74, 0x04, 0, 0, 16, 0, 0, 0]
        );
        // r3 = be16 r3
        assert_eq!(
            one(|a| {
                a.to_be(R3, 16);
            }),
            [0xdc, 0x03, 0, 0, 16, 0, 0, 0]
        );
        // call bpf_redirect (23)
        assert_eq!(
            one(|a| {
                a.call(23);
            }),
            [0x85, 0, 0, 0, 23, 0, 0, 0]
        );
    }

    #[test]
    fn wide_immediates_take_two_slots() {
        let mut a = Asm::new();
        a.ld_map_fd(R1, 7);
        a.ld_imm64(R4, 0x0e00_0000_0000_0053);
        let p = to_bytes(&a.finish().unwrap());
        assert_eq!(
            p,
            [
                0x18, 0x11, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // r1 = map fd 7
                0x18, 0x04, 0, 0, 0x53, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0e,
            ]
        );
    }

    #[test]
    fn jumps_resolve_forward_and_backward() {
        let mut a = Asm::new();
        let out = a.label();
        let top = a.label();
        a.bind(top); // 0
        a.jmp_imm(Cond::Ne, R2, 0x0008, out); // 0 -> 4: off 3
        a.ld_imm64(R1, 1); // 1, 2
        a.jmp(Cond::Gt, R1, R8, top); // 3 -> 0: off -4
        a.bind(out);
        a.ja(out); // 4 -> 4: off -1
        let p = a.finish().unwrap();
        assert_eq!(p[0].to_bytes(), [0x55, 0x02, 3, 0, 8, 0, 0, 0]);
        assert_eq!(p[3].to_bytes(), [0x2d, 0x81, 0xfc, 0xff, 0, 0, 0, 0]);
        assert_eq!(p[4].to_bytes(), [0x05, 0, 0xff, 0xff, 0, 0, 0, 0]);
        // JSET with an immediate
        let mut a = Asm::new();
        let l = a.label();
        a.jmp_imm(Cond::Set, R2, 7, l);
        a.bind(l);
        assert_eq!(
            a.finish().unwrap()[0].to_bytes(),
            [0x45, 2, 0, 0, 7, 0, 0, 0]
        );
    }

    #[test]
    fn bad_labels_are_errors() {
        let mut a = Asm::new();
        let l = a.label();
        a.ja(l);
        assert_eq!(a.finish(), Err(AsmError::Unbound(0)));

        let mut a = Asm::new();
        let l = a.label();
        a.bind(l);
        a.bind(l);
        assert_eq!(a.finish(), Err(AsmError::Rebound(0)));

        let mut a = Asm::new();
        let l = a.label();
        a.ja(l);
        for _ in 0..40_000 {
            a.mov_imm(R0, 0);
        }
        a.bind(l);
        assert!(matches!(a.finish(), Err(AsmError::TooFar { at: 0, .. })));
    }
}

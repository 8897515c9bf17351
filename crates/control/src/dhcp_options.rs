//! dhcp optionss.

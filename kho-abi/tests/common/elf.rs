//! ELF core files built byte by byte, as kdump, /proc/kcore and QEMU's
//! dump-guest-memory write them: a 64-bit little-endian header, program
//! headers (a PT_NOTE first, then PT_LOADs) and the segment bytes, each at
//! a page of the file. Fields are public so a test can spoil any of them.

use super::TempFile;

pub const PT_LOAD: u32 = 1;
pub const PT_NOTE: u32 = 4;
pub const ET_CORE: u16 = 4;
pub const ET_EXEC: u16 = 2;

/// One program header, written as a 64-bit little-endian `Elf64_Phdr`.
#[derive(Clone, Copy)]
pub struct Ph {
    pub kind: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub paddr: u64,
    pub filesz: u64,
    pub memsz: u64,
}

/// An ELF core being built: the header fields a test may spoil, the
/// program headers, and the file bytes after the header table.
pub struct Core {
    pub class: u8,
    pub data: u8,
    pub e_type: u16,
    pub phentsize: u16,
    /// e_phnum as written (None: the number of headers).
    pub phnum: Option<u16>,
    /// e_shoff, and the section 0 written there (its sh_info) for PN_XNUM.
    pub section0_info: Option<u32>,
    pub phs: Vec<Ph>,
    /// The bytes from file offset `DATA` on.
    pub body: Vec<u8>,
}

/// Where segment bytes start in the file: after the header and room for
/// the program headers.
pub const DATA: u64 = 0x1000;

impl Core {
    pub fn new() -> Self {
        Core {
            class: 2,
            data: 1,
            e_type: ET_CORE,
            phentsize: 56,
            phnum: None,
            section0_info: None,
            // Real cores start with the notes (registers, VMCOREINFO).
            phs: vec![Ph {
                kind: PT_NOTE,
                offset: DATA,
                vaddr: 0,
                paddr: 0,
                filesz: 0,
                memsz: 0,
            }],
            body: Vec::new(),
        }
    }

    /// A PT_LOAD of `bytes` at `paddr` (and `vaddr`), `memsz` bytes of
    /// memory; the bytes go at the next page of the file.
    pub fn load(mut self, paddr: u64, vaddr: u64, bytes: &[u8], memsz: u64) -> Self {
        let at = self.body.len().next_multiple_of(4096);
        self.body.resize(at, 0xEE);
        self.body.extend_from_slice(bytes);
        self.phs.push(Ph {
            kind: PT_LOAD,
            offset: DATA + at as u64,
            vaddr,
            paddr,
            filesz: bytes.len() as u64,
            memsz,
        });
        self
    }

    /// A program header exactly as given (a lie, usually).
    pub fn ph(mut self, ph: Ph) -> Self {
        self.phs.push(ph);
        self
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(b"\x7fELF");
        f.extend([self.class, self.data, 1, 0]);
        f.resize(16, 0);
        f.extend(self.e_type.to_le_bytes());
        f.extend(62u16.to_le_bytes()); // EM_X86_64
        f.extend(1u32.to_le_bytes());
        f.extend(0u64.to_le_bytes()); // e_entry
        f.extend(64u64.to_le_bytes()); // e_phoff
        let shoff = if self.section0_info.is_some() {
            0x800u64
        } else {
            0
        };
        f.extend(shoff.to_le_bytes());
        f.extend(0u32.to_le_bytes()); // e_flags
        f.extend(64u16.to_le_bytes()); // e_ehsize
        f.extend(self.phentsize.to_le_bytes());
        let phnum = self.phnum.unwrap_or(self.phs.len() as u16);
        f.extend(phnum.to_le_bytes());
        f.extend(64u16.to_le_bytes()); // e_shentsize
        f.extend(u16::from(self.section0_info.is_some()).to_le_bytes());
        f.extend(0u16.to_le_bytes()); // e_shstrndx
        for ph in &self.phs {
            f.extend(ph.kind.to_le_bytes());
            f.extend(4u32.to_le_bytes()); // PF_R
            for v in [ph.offset, ph.vaddr, ph.paddr, ph.filesz, ph.memsz, 0] {
                f.extend(v.to_le_bytes());
            }
        }
        if let Some(info) = self.section0_info {
            f.resize(0x800, 0);
            // sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link, sh_info.
            f.extend([0u8; 4 + 4 + 8 + 8 + 8 + 8 + 4]);
            f.extend(info.to_le_bytes());
            f.extend([0u8; 16]);
        }
        assert!(f.len() as u64 <= DATA, "headers overflow into the data");
        f.resize(DATA as usize, 0);
        f.extend_from_slice(&self.body);
        f
    }

    pub fn file(&self, tag: &str) -> TempFile {
        TempFile::with(tag, &self.bytes())
    }
}

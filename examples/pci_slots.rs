//! Slot reuse in a block set, the way the PCI live-update FLB keeps its
//! preserved devices.
//!
//! ```sh
//! cargo run --example pci_slots
//! ```
//!
//! The PCI core keeps one `pci_dev_ser` per preserved device in a block set
//! and never compacts it: unpreserving a device zeroes its entry in place
//! (`refcount` 0 marks a free slot), and preserving one takes the first
//! free slot, growing the set by a push only when there is none. Entries
//! keep their index for as long as the device is preserved, which is what
//! lets the PCI core find a device's slot again without a lookup table.
//!
//! This runs that pattern on kho's outgoing sets. The generated
//! [`kho::abi::pci::PciDevSer`] is a field type of `pci_ser` (it has no
//! compatible string of its own), so the entry is a derived twin whose
//! layout fingerprint is checked against it at compile time.
//! [`BlockSet::position`] finds the free slot,
//! [`BlockSet::set`] and [`BlockSet::update`] change entries in place, and
//! [`BlockSet::push`] grows. Then the set is handed over (publish, kexec,
//! restore) and the next kernel reads it back in one bulk
//! [`BlockSet::read_into`], skipping the free slots as the PCI core does.
//!
//! On a [`kho::FileMemory`] the same calls work until the set is published;
//! after that its pages belong to the published generation and changing
//! them is refused (`Fault::Published`): build the next generation in a new
//! set instead.

use kho::{BlockSet, KhoEntry, PreservedMemory, Result, SimMemory};

/// One preserved PCI device, as a block-set entry: the layout of
/// `kho::abi::pci::PciDevSer`, with a compatible string for the set.
#[derive(KhoEntry, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, packed)]
#[kho(name = "pci_dev_ser", compatible = "pci-dev-kho-block-v1")]
struct PciDevSer {
    domain: u32,
    bdf: u16,
    /// 0: a free slot.
    refcount: u16,
}

// The twin is the schema's struct, field for field (names, types, offsets).
const _: () = assert!(
    kho::fingerprint_of::<PciDevSer>() == kho::fingerprint_of::<kho::abi::pci::PciDevSer>(),
    "PciDevSer differs from kho::abi::pci::PciDevSer"
);

/// PCI's preserve: the first free slot (refcount 0) gets the device, else
/// the set grows by one entry. Returns the device's slot.
fn preserve<M: PreservedMemory>(
    devices: &mut BlockSet<PciDevSer, M>,
    mem: &mut M,
    domain: u32,
    bdf: u16,
) -> Result<usize> {
    let dev = PciDevSer {
        domain,
        bdf,
        refcount: 1,
    };
    match devices.position(mem, |d| d.refcount == 0)? {
        Some(slot) => {
            devices.set(mem, slot, &dev)?;
            Ok(slot)
        }
        None => {
            devices.push(mem, &dev)?;
            Ok(devices.len() - 1)
        }
    }
}

/// PCI's unpreserve: drop a reference; the last one zeroes the slot in place.
fn unpreserve<M: PreservedMemory>(
    devices: &mut BlockSet<PciDevSer, M>,
    mem: &mut M,
    slot: usize,
) -> Result<()> {
    devices.update(mem, slot, |d| {
        d.refcount = d.refcount.saturating_sub(1);
        if d.refcount == 0 {
            *d = PciDevSer {
                domain: 0,
                bdf: 0,
                refcount: 0,
            };
        }
    })
}

fn main() -> Result<()> {
    let mut mem = SimMemory::new(0x10_0000, 4096, 16)?;
    let mut devices = BlockSet::<PciDevSer, _>::new(&mem)?;

    // 1,200 devices: 510 fit a 4 KiB block, so the set has 3 blocks.
    let mut slots = Vec::new();
    for i in 0..1200u32 {
        slots.push(preserve(&mut devices, &mut mem, i / 256, (i % 256) as u16)?);
    }
    // A second user of device 7 takes a reference (updated in place).
    devices.update(&mut mem, slots[7], |d| d.refcount += 1)?;
    // Unpreserve every third device: 400 free slots across all blocks.
    for &slot in slots.iter().step_by(3) {
        unpreserve(&mut devices, &mut mem, slot)?;
    }
    // New devices fill the holes front to back; the set does not grow.
    let blocks = devices.block_count();
    let reused: Vec<usize> = (0..300u32)
        .map(|i| preserve(&mut devices, &mut mem, 0x100, i as u16))
        .collect::<Result<_>>()?;
    assert_eq!(reused[..3], [0, 3, 6]);
    assert_eq!((devices.len(), devices.block_count()), (1200, blocks));
    println!(
        "{} slots in {} blocks, {} reused, first free slot {:?}",
        devices.len(),
        devices.block_count(),
        reused.len(),
        devices.position(&mem, |d| d.refcount == 0)?
    );

    // Hand over, and read the devices back in the next kernel.
    let head = devices.publish(&mut mem)?;
    let mem = mem.kexec();
    let incoming = BlockSet::<PciDevSer, _>::restore(&mem, head)?;
    let mut all = vec![
        PciDevSer {
            domain: 0,
            bdf: 0,
            refcount: 0
        };
        incoming.len()
    ];
    incoming.read_into(&mem, &mut all)?;
    let live: Vec<&PciDevSer> = all.iter().filter(|d| d.refcount != 0).collect();
    let shared = all.iter().filter(|d| d.refcount > 1).count();
    println!(
        "next kernel: {} preserved devices ({} with two references), {} free slots",
        live.len(),
        shared,
        all.len() - live.len()
    );
    assert_eq!((live.len(), shared), (1100, 1));
    Ok(())
}

//! In-place access to outgoing sets and the bulk paths, typed: PCI-style
//! slot reuse against a `Vec` model, and FileMemory's rule for changing a
//! published page (refused with `Fault::Published`, nothing changed), across
//! a reopen.

mod common;

use common::{TempPath, BASE};
use kho_derive::KhoEntry;
use kho_runtime::{
    BlockSet, Error, Fault, FileMemory, FileMemoryConfig, KhoEntry, PhysAddr, PreservedMemory,
    RootRecord, SimMemory,
};
use proptest::prelude::*;

/// The shape of the PCI FLB's `pci_dev_ser`: refcount 0 is a free slot.
#[derive(KhoEntry, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(C, packed)]
#[kho(crate = "kho_runtime", compatible = "test-dev-v1")]
struct Dev {
    domain: u32,
    bdf: u16,
    refcount: u16,
}

const PS: usize = 4096;
/// 510 devices per 4 KiB block.
const PER_BLOCK: usize = (PS - 16) / 8;

/// PCI's preserve: the first free slot, else grow and push. Returns the slot.
fn preserve<M: PreservedMemory>(
    set: &mut BlockSet<Dev, M>,
    mem: &mut M,
    dev: Dev,
) -> Result<usize, Error> {
    match set.position(mem, |d| d.refcount == 0)? {
        Some(i) => {
            set.set(mem, i, &dev)?;
            Ok(i)
        }
        None => {
            set.push(mem, &dev)?;
            Ok(set.len() - 1)
        }
    }
}

/// The memory holds `PAGES` blocks, so a long run of appends fills it: an
/// append that does not fit must fail with `OutOfMemory` and append nothing
/// (both bulk paths grow first, all or nothing, when the length is known).
const PAGES: usize = 16;

fn dev(i: usize) -> Dev {
    Dev {
        domain: i as u32 ^ 0x5a5a,
        bdf: (i as u16).wrapping_mul(7),
        refcount: 1 + (i % 3) as u16,
    }
}

#[derive(Debug, Clone)]
enum Op {
    Preserve,
    /// Zero slot `i` in place (unpreserve).
    Unpreserve(u16),
    /// Bump the refcount of slot `i` through `update`.
    Bump(u16),
    /// Append `k` devices from a slice.
    ExtendSlice(u16),
    /// Append `k` devices from an iterator of values.
    Extend(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Preserve),
        3 => any::<u16>().prop_map(Op::Unpreserve),
        2 => any::<u16>().prop_map(Op::Bump),
        1 => (0u16..1200).prop_map(Op::ExtendSlice),
        1 => (0u16..1200).prop_map(Op::Extend),
    ]
}

/// Whether `more` entries fit after `len` in the `PAGES` blocks.
fn fits(len: usize, more: usize) -> bool {
    len + more <= PAGES * PER_BLOCK
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Typed in-place changes, slot reuse and the bulk paths agree with a
    /// `Vec<Dev>` after every step, and the next kernel reads the model.
    #[test]
    fn slot_reuse_and_bulk_paths_follow_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        let mut mem = SimMemory::new(BASE, PS, PAGES).unwrap();
        let mut set = BlockSet::<Dev, _>::new(&mem).unwrap();
        let mut model: Vec<Dev> = Vec::new();
        let mut next = 0usize;
        for op in ops {
            match op {
                Op::Preserve => {
                    let d = dev(next);
                    next += 1;
                    let res = preserve(&mut set, &mut mem, d);
                    let free = model.iter().position(|d| d.refcount == 0);
                    let full = model.len() == PAGES * PER_BLOCK;
                    match free {
                        Some(i) => {
                            model[i] = d;
                            prop_assert_eq!(res.unwrap(), i);
                        }
                        None if full => {
                            prop_assert!(matches!(res, Err(Error::OutOfMemory)), "{:?}", res);
                        }
                        None => {
                            model.push(d);
                            prop_assert_eq!(res.unwrap(), model.len() - 1);
                        }
                    }
                }
                Op::Unpreserve(raw) => {
                    let i = raw as usize % (model.len() + 1);
                    let res = set.set(&mut mem, i, &Dev::default());
                    if i < model.len() {
                        prop_assert!(res.is_ok(), "{:?}", res);
                        model[i] = Dev::default();
                    } else {
                        prop_assert!(
                            matches!(res, Err(Error::OutOfBounds { index, len }) if index == i && len == model.len()),
                            "{:?}", res
                        );
                    }
                }
                Op::Bump(raw) => {
                    let i = raw as usize % (model.len() + 1);
                    let res = set.update(&mut mem, i, |d| {
                        d.refcount = d.refcount.wrapping_add(1);
                        d.refcount
                    });
                    if i < model.len() {
                        model[i].refcount = model[i].refcount.wrapping_add(1);
                        prop_assert_eq!(res.unwrap(), { model[i].refcount });
                    } else {
                        prop_assert!(matches!(res, Err(Error::OutOfBounds { .. })), "{:?}", res);
                    }
                }
                Op::ExtendSlice(k) => {
                    let new: Vec<Dev> = (next..next + k as usize).map(dev).collect();
                    next += k as usize;
                    let res = set.extend_from_slice(&mut mem, &new);
                    if fits(model.len(), new.len()) {
                        prop_assert!(res.is_ok(), "{:?}", res);
                        model.extend_from_slice(&new);
                    } else {
                        prop_assert!(matches!(res, Err(Error::OutOfMemory)), "{:?}", res);
                    }
                }
                Op::Extend(k) => {
                    let (from, to) = (next, next + k as usize);
                    next = to;
                    let res = set.extend(&mut mem, (from..to).map(dev));
                    if fits(model.len(), to - from) {
                        prop_assert!(res.is_ok(), "{:?}", res);
                        model.extend((from..to).map(dev));
                    } else {
                        prop_assert!(matches!(res, Err(Error::OutOfMemory)), "{:?}", res);
                    }
                }
            }
            prop_assert_eq!(set.len(), model.len());
            // Growing is a block at a time and extend leaves no empty block.
            prop_assert_eq!(set.block_count(), model.len().div_ceil(PER_BLOCK));
            let mut out = vec![Dev::default(); model.len()];
            prop_assert_eq!(set.read_into(&mem, &mut out).unwrap(), model.len());
            prop_assert_eq!(&out, &model);
            let found = set.find(&mem, |d| d.refcount == 0).unwrap();
            let want = model.iter().copied().enumerate().find(|(_, d)| d.refcount == 0);
            prop_assert_eq!(found, want);
        }
        let head = set.publish(&mut mem).unwrap();
        let mem = mem.kexec();
        let back = BlockSet::<Dev, _>::restore(&mem, head).unwrap();
        // A short buffer takes a prefix; a long one keeps its tail.
        let mut out = vec![Dev { domain: 9, bdf: 9, refcount: 9 }; model.len() + 3];
        prop_assert_eq!(back.read_into(&mem, &mut out).unwrap(), model.len());
        prop_assert_eq!(&out[..model.len()], &model[..]);
        prop_assert!(out[model.len()..].iter().all(|d| d.refcount == 9));
        let half = model.len() / 2;
        prop_assert_eq!(back.read_into(&mem, &mut out[..half]).unwrap(), half);
        let all: Vec<Dev> = back.iter(&mem).unwrap().collect();
        prop_assert_eq!(all, model);
    }
}

fn config(pages: usize) -> FileMemoryConfig {
    FileMemoryConfig {
        base: BASE,
        page_size: PS,
        pages,
    }
}

/// A device set of 3 blocks with the last one half full, published as "devs".
fn publish_devs<F: kho_runtime::ImageFile>(
    mem: &mut FileMemory<F>,
) -> (BlockSet<Dev, FileMemory<F>>, Vec<RootRecord>) {
    let mut set = BlockSet::<Dev, _>::new(mem).unwrap();
    let devs: Vec<Dev> = (0..2 * PER_BLOCK + 100).map(dev).collect();
    set.extend_from_slice(mem, &devs).unwrap();
    let records = vec![RootRecord::for_set("devs", &set).unwrap()];
    mem.publish(&records).unwrap();
    (set, records)
}

#[test]
fn in_place_changes_before_publish_survive_a_reopen() {
    let path = TempPath::new("in_place_reopen");
    let mut model: Vec<Dev> = (0..2 * PER_BLOCK + 100).map(dev).collect();
    {
        let mut mem = FileMemory::create(path.as_str(), config(32)).unwrap();
        let mut set = BlockSet::<Dev, _>::new(&mem).unwrap();
        set.extend_from_slice(&mut mem, &model).unwrap();
        // Free two slots in different blocks, reuse one, bump another.
        for i in [3, PER_BLOCK + 1] {
            set.set(&mut mem, i, &Dev::default()).unwrap();
            model[i] = Dev::default();
        }
        let new = Dev {
            domain: 77,
            bdf: 0x0300,
            refcount: 1,
        };
        assert_eq!(preserve(&mut set, &mut mem, new).unwrap(), 3);
        model[3] = new;
        let last = model.len() - 1;
        set.update(&mut mem, last, |d| d.refcount = 40).unwrap();
        model[last].refcount = 40;
        let records = [RootRecord::for_set("devs", &set).unwrap()];
        mem.publish(&records).unwrap();
    }
    let mem = FileMemory::open(path.as_str()).unwrap();
    let set = mem.restore_set::<Dev>("devs").unwrap();
    let mut out = vec![Dev::default(); model.len()];
    assert_eq!(set.read_into(&mem, &mut out).unwrap(), model.len());
    assert_eq!(out, model);
    assert_eq!(
        set.find(&mem, |d| d.refcount == 0).unwrap(),
        Some((PER_BLOCK + 1, Dev::default()))
    );
}

/// The fault of an error that must be a refused published page.
fn published_at(res: Result<impl std::fmt::Debug, Error>) -> (PhysAddr, u64) {
    match res {
        Err(Error::Memory {
            addr,
            fault: Fault::Published { generation },
        }) => (addr, generation),
        other => panic!("expected Fault::Published, got {other:?}"),
    }
}

#[test]
fn changing_a_published_page_is_refused_and_changes_nothing() {
    let path = TempPath::new("in_place_published");
    let mut mem = FileMemory::create(path.as_str(), config(32)).unwrap();
    let (mut set, records) = publish_devs(&mut mem);
    assert_eq!(mem.generation(), 2);
    let blocks = set.as_raw().blocks().to_vec();
    let file_before = std::fs::read(path.as_str()).unwrap();
    let (len, preserved) = (set.len(), mem.stats().preserved);

    let (addr, generation) = published_at(set.set(&mut mem, 0, &Dev::default()));
    assert_eq!((addr, generation), (blocks[0], 2));
    let err = set
        .set(&mut mem, 0, &Dev::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("published generation 2") && err.contains(&blocks[0].to_string()),
        "{err}"
    );
    assert_eq!(
        published_at(set.update(&mut mem, PER_BLOCK, |d| d.refcount = 0)).0,
        blocks[1]
    );
    // The last block has room: the push would store into it.
    assert_eq!(published_at(set.push(&mut mem, &dev(1))).0, blocks[2]);
    assert_eq!(
        published_at(set.extend_from_slice(&mut mem, &[dev(1)])).0,
        blocks[2]
    );
    assert_eq!(published_at(set.prev(&mut mem)).0, blocks[2]);
    assert_eq!(published_at(set.shrink(&mut mem, 1)).0, blocks[0]);
    assert_eq!(published_at(set.clear(&mut mem)).0, blocks[0]);
    // Growing links a new block into the published last one: refused, and
    // the page it took is given back.
    let (addr, _) = published_at(set.grow(&mut mem, 3 * PER_BLOCK + 1));
    assert_eq!(addr, blocks[2]);
    assert_eq!((set.len(), set.as_raw().blocks()), (len, &blocks[..]));
    assert_eq!(mem.stats().preserved, preserved);
    // Reading is fine.
    assert_eq!(set.get(&mem, 0).unwrap(), Some(dev(0)));

    // Publishing again writes nothing of the set's pages: they are the
    // file's bytes from before, and the reopened handover is the first.
    mem.publish(&records).unwrap();
    drop(mem);
    let file_after = std::fs::read(path.as_str()).unwrap();
    for &b in &blocks {
        let at = (b.get() - BASE) as usize;
        assert_eq!(
            file_after[at..at + PS],
            file_before[at..at + PS],
            "block at {b} changed in the file"
        );
    }
    let mem = FileMemory::open(path.as_str()).unwrap();
    assert_eq!(mem.generation(), 3);
    let back = mem.restore_set::<Dev>("devs").unwrap();
    let all: Vec<Dev> = back.iter(&mem).unwrap().collect();
    let want: Vec<Dev> = (0..len).map(dev).collect();
    assert_eq!(all, want);
}

/// The way to change a published set: copy it into the next generation
/// with the change, publish that, and destroy the old one.
#[test]
fn the_next_generation_is_a_new_set() {
    let path = TempPath::new("in_place_next_generation");
    let mut mem = FileMemory::create(path.as_str(), config(32)).unwrap();
    let (mut old, _) = publish_devs(&mut mem);
    let mut next = BlockSet::<Dev, _>::new(&mem).unwrap();
    let copied: Vec<Dev> = old.iter(&mem).unwrap().collect();
    next.extend(&mut mem, &copied).unwrap();
    next.set(&mut mem, 0, &Dev::default()).unwrap();
    old.destroy(&mut mem).unwrap();
    mem.publish(&[RootRecord::for_set("devs", &next).unwrap()])
        .unwrap();
    drop(mem);

    let mut mem = FileMemory::open(path.as_str()).unwrap();
    let back = mem.restore_set::<Dev>("devs").unwrap();
    assert_eq!(back.len(), copied.len());
    assert_eq!(back.get(&mem, 0).unwrap(), Some(Dev::default()));
    assert_eq!(back.get(&mem, 1).unwrap(), Some(dev(1)));
    // An incoming set is read-only: in place or not.
    let mut back = back;
    let err = back.set(&mut mem, 1, &Dev::default()).unwrap_err();
    assert!(matches!(err, Error::Incoming("get_mut")), "{err}");
    assert_eq!(<Dev as KhoEntry>::SIZE, 8);
}

/// Storage in memory whose superblock writes can be made to fail: a
/// publish that dies after its data pages and before its superblock.
#[derive(Clone, Default)]
struct Disk(std::sync::Arc<std::sync::Mutex<(Vec<u8>, bool)>>);

impl Disk {
    fn lock(&self) -> std::sync::MutexGuard<'_, (Vec<u8>, bool)> {
        self.0.lock().unwrap()
    }
}

impl kho_runtime::ImageFile for Disk {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let d = self.lock();
        let at = offset as usize;
        let src =
            d.0.get(at..at + buf.len())
                .ok_or(std::io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> std::io::Result<()> {
        let mut d = self.lock();
        let at = offset as usize;
        if d.1 && at < 2 * PS {
            return Err(std::io::Error::other("power cut before the superblock"));
        }
        d.0[at..at + buf.len()].copy_from_slice(buf);
        Ok(())
    }
    fn sync_data(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn size(&self) -> std::io::Result<u64> {
        Ok(self.lock().0.len() as u64)
    }
    fn allocate_zeroed(&mut self, len: u64) -> std::io::Result<()> {
        let mut d = self.lock();
        d.0.clear();
        d.0.resize(len as usize, 0);
        Ok(())
    }
}

/// What the refusal guards: were a published page changed in place, a
/// publish dying before its superblock would leave the old generation
/// (still the one the image opens) with the new bytes in it.
#[test]
fn a_publish_dying_before_its_superblock_leaves_the_published_set_whole() {
    let disk = Disk::default();
    let mut mem = FileMemory::create_on(disk.clone(), "disk", config(32)).unwrap();
    let (mut set, records) = publish_devs(&mut mem);
    let len = set.len();
    let zero = Dev::default();
    let res = set.set(&mut mem, 0, &zero);
    disk.lock().1 = true;
    let err = mem.publish(&records).unwrap_err();
    assert!(err.to_string().contains("power cut"), "{err}");
    drop(mem);

    disk.lock().1 = false;
    let mem = FileMemory::open_on(disk.clone(), "disk").unwrap();
    assert_eq!(mem.generation(), 2);
    let back = mem.restore_set::<Dev>("devs").unwrap();
    let all: Vec<Dev> = back.iter(&mem).unwrap().collect();
    let want: Vec<Dev> = (0..len).map(dev).collect();
    assert_eq!(
        all.first(),
        want.first(),
        "the published generation was torn"
    );
    assert!(all == want, "the published generation was torn");
    assert!(
        matches!(
            res,
            Err(Error::Memory {
                fault: Fault::Published { generation: 2 },
                ..
            })
        ),
        "{res:?}"
    );
}

/// A full memory: both bulk paths refuse what does not fit with
/// `OutOfMemory`, append nothing and give back the blocks they took, so
/// what does fit still goes in afterwards.
#[test]
fn bulk_appends_that_do_not_fit_append_nothing() {
    let mut mem = SimMemory::new(BASE, PS, PAGES).unwrap();
    let mut set = BlockSet::<Dev, _>::new(&mem).unwrap();
    let first: Vec<Dev> = (0..PAGES * PER_BLOCK - 3).map(dev).collect();
    set.extend_from_slice(&mut mem, &first).unwrap();
    let more: Vec<Dev> = (0..4).map(dev).collect();
    let res = set.extend_from_slice(&mut mem, &more);
    assert!(matches!(res, Err(Error::OutOfMemory)), "{res:?}");
    let res = set.extend(&mut mem, more.iter());
    assert!(matches!(res, Err(Error::OutOfMemory)), "{res:?}");
    assert_eq!(set.len(), first.len());
    assert_eq!(set.block_count(), PAGES);
    set.extend(&mut mem, &more[..3]).unwrap();
    let all: Vec<Dev> = set.iter(&mem).unwrap().collect();
    assert_eq!(&all[..first.len()], &first[..]);
    assert_eq!(&all[first.len()..], &more[..3]);
}

//! Links proto-core and shell-embedded into a binary with no std and no allocator: if
//! anything they depend on needs std or alloc, this fails to link.
#![no_std]
#![no_main]

use core::hint::black_box;
use core::panic::PanicInfo;

use proto_core::jute;
use proto_core::tree::NodeKind;
use proto_core::tree::{AclSlot, Node, SessionSlot, Tree, TreeStorage, OPEN_ACL_UNSAFE};
use proto_core::Zxid;

/// The precompiled `core` is built for unwinding and names this symbol; with
/// `panic = "abort"` nothing ever calls it.
#[no_mangle]
pub extern "C" fn rust_eh_personality() {}

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    loop {}
}

/// Entry point of the host link. It really runs the core — a tree on stack storage, a
/// decoded request — so the linker keeps that code; it never has to run.
#[no_mangle]
pub extern "C" fn _start() -> ! {
    let mut nodes = [Node::EMPTY; 16];
    let mut index = [0u32; 32];
    let mut bytes = [0u8; 4096];
    let mut acls = [AclSlot::EMPTY; 4];
    let mut sessions = [SessionSlot::EMPTY; 4];
    let storage = TreeStorage {
        nodes: &mut nodes,
        index: &mut index,
        bytes: &mut bytes,
        acls: &mut acls,
        sessions: &mut sessions,
    };
    if let Ok(mut tree) = Tree::new(storage) {
        let root = tree.root();
        let _ = tree.create(root, b"a", Some(b"x"), OPEN_ACL_UNSAFE, NodeKind::Persistent, Zxid::new(1, 1), 0);
        black_box(tree.lookup(black_box(b"/a")));
    }
    let frame = black_box([0u8, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 2, b'/', b'a', 0]);
    black_box(jute::decode_request(&frame).is_ok());
    black_box(shell_embedded::proto_core::Zxid::ZERO);
    loop {}
}

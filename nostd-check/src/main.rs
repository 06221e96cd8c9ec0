//! Links proto-core and shell-embedded into a binary with no std and no allocator.
#![no_std]
#![no_main]

use core::panic::PanicInfo;

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    loop {}
}

/// Entry point of the host link. It touches the core so the core is really linked in, then
/// spins: the binary only has to link, never to run.
#[no_mangle]
pub extern "C" fn _start() -> ! {
    let zxid = core::hint::black_box(proto_core::Zxid::new(1, 2));
    let _ = core::hint::black_box(shell_embedded::proto_core::Zxid::ZERO);
    let _ = core::hint::black_box(zxid.counter());
    loop {}
}

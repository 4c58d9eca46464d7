// The polyglot guest in Rust (no_std, wasm32-unknown-unknown): see
// examples/polyglot/doc.go for what every guest does.
#![no_std]

use core::ptr::{addr_of, addr_of_mut};

#[link(wasm_import_module = "pk")]
extern "C" {
    fn event_buffer(ptr: *mut u8, cap: u32) -> i32;
    fn subscribe(topic: *const u8, topic_len: u32, flags: u32) -> i32;
    fn log(level: i32, msg: *const u8, msg_len: u32, attrs: *const u8, attrs_len: u32) -> i32;
    fn publish(topic: *const u8, topic_len: u32, data: *const u8, data_len: u32, kind: u32) -> i32;
    fn call_reply(call_id: i64, data: *const u8, data_len: u32) -> i32;
    fn snapshot_write(ptr: *const u8, len: u32) -> i32;
}

const EINVAL: i32 = 2;
const EMSGSIZE: i32 = 9;
const OUT_CAP: usize = 65536 + 32;

static mut EVBUF: [u8; 65536] = [0; 65536];
static mut ARENA: [u8; 65536] = [0; 65536];
static mut OUT: [u8; OUT_CAP] = [0; OUT_CAP];
static mut COUNTER: u32 = 0;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

#[no_mangle]
pub extern "C" fn pk_abi_version() -> i32 {
    1 << 16 | 0
}

#[no_mangle]
pub extern "C" fn pk_alloc(size: u32) -> *mut u8 {
    if size as usize <= 65536 {
        unsafe { addr_of_mut!(ARENA) as *mut u8 }
    } else {
        core::ptr::null_mut()
    }
}

#[no_mangle]
pub extern "C" fn pk_init() -> i32 {
    unsafe {
        let e = event_buffer(addr_of_mut!(EVBUF) as *mut u8, 65536);
        if e != 0 {
            return e;
        }
        let topic = b"poly/rust/in";
        let e = subscribe(topic.as_ptr(), topic.len() as u32, 0);
        if e != 0 {
            return e;
        }
        log(0, b"ready".as_ptr(), 5, core::ptr::null(), 0)
    }
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// utoa writes v in decimal at the start of out and returns the number of digits.
fn utoa(out: &mut [u8], mut v: u32) -> usize {
    let mut tmp = [0u8; 10];
    let mut n = 0;
    loop {
        tmp[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for i in 0..n {
        out[i] = tmp[n - 1 - i];
    }
    n
}

#[no_mangle]
pub unsafe extern "C" fn pk_event(kind: i32, ev: *const u8, len: u32) -> i32 {
    let ev = core::slice::from_raw_parts(ev, len as usize);
    let out = &mut *addr_of_mut!(OUT);
    match kind {
        1 => {
            // MESSAGE: u64 seq, u32 flags, u32 topic_len, topic, payload
            if ev.len() < 16 || le32(&ev[12..]) as usize > ev.len() - 16 {
                return EINVAL;
            }
            let payload = &ev[16 + le32(&ev[12..]) as usize..];
            if payload.len() > 65536 {
                return EMSGSIZE;
            }
            COUNTER = COUNTER.wrapping_add(1);
            out[..5].copy_from_slice(b"rust:");
            let mut n = 5 + payload.len();
            out[5..n].copy_from_slice(payload);
            out[n] = b':';
            n += 1;
            n += utoa(&mut out[n..], COUNTER);
            let topic = b"poly/rust/out";
            publish(topic.as_ptr(), topic.len() as u32, out.as_ptr(), n as u32, 0)
        }
        3 => {
            // CALL: u64 call_id, u32 from_len, from, request
            if ev.len() < 12 || le32(&ev[8..]) as usize > ev.len() - 12 {
                return EINVAL;
            }
            let id = le32(ev) as u64 | (le32(&ev[4..]) as u64) << 32;
            let n = utoa(out, COUNTER);
            call_reply(id as i64, out.as_ptr(), n as u32);
            0
        }
        _ => 0,
    }
}

#[no_mangle]
pub extern "C" fn pk_snapshot() -> i32 {
    unsafe {
        let b = (*addr_of!(COUNTER)).to_le_bytes();
        snapshot_write(b.as_ptr(), 4)
    }
}

#[no_mangle]
pub unsafe extern "C" fn pk_restore(p: *const u8, len: u32) -> i32 {
    if len != 4 {
        return EINVAL;
    }
    COUNTER = le32(core::slice::from_raw_parts(p, 4));
    0
}

// The polyglot guest in AssemblyScript (--runtime stub, no env imports): see
// examples/polyglot/doc.go for what every guest does.

@external("pk", "event_buffer")
declare function event_buffer(ptr: usize, cap: u32): i32;
@external("pk", "subscribe")
declare function subscribe(topic: usize, topic_len: u32, flags: u32): i32;
@external("pk", "log")
declare function log(level: i32, msg: usize, msg_len: u32, attrs: usize, attrs_len: u32): i32;
@external("pk", "publish")
declare function publish(topic: usize, topic_len: u32, data: usize, data_len: u32, kind: u32): i32;
@external("pk", "call_reply")
declare function call_reply(call_id: i64, data: usize, data_len: u32): i32;
@external("pk", "snapshot_write")
declare function snapshot_write(ptr: usize, len: u32): i32;

const EINVAL: i32 = 2;
const EMSGSIZE: i32 = 9;

// Static buffers; AssemblyScript strings are UTF-16, so ASCII text is copied
// into byte buffers with ascii().
const EVBUF: usize = memory.data(65536);
const ARENA: usize = memory.data(65536, 16);
const OUT: usize = memory.data(65536 + 32);
const TEXT: usize = memory.data(32);
let counter: u32 = 0;

// ascii writes s (ASCII only) as bytes at p and returns its length.
function ascii(p: usize, s: string): u32 {
  const n = s.length;
  for (let i = 0; i < n; i++) store<u8>(p + <usize>i, <u8>s.charCodeAt(i));
  return <u32>n;
}

// utoa writes v in decimal at p and returns the number of digits.
function utoa(p: usize, v: u32): u32 {
  let n: u32 = 1;
  for (let t = v; t >= 10; t /= 10) n++;
  for (let i = n; i > 0; ) {
    i--;
    store<u8>(p + <usize>i, <u8>(48 + v % 10));
    v /= 10;
  }
  return n;
}

export function pk_abi_version(): i32 {
  return 1 << 16 | 0;
}

export function pk_alloc(size: u32): usize {
  return size <= 65536 ? ARENA : 0;
}

export function pk_init(): i32 {
  let e = event_buffer(EVBUF, 65536);
  if (e != 0) return e;
  e = subscribe(TEXT, ascii(TEXT, "poly/assemblyscript/in"), 0);
  if (e != 0) return e;
  return log(0, TEXT, ascii(TEXT, "ready"), 0, 0);
}

export function pk_event(kind: i32, ev: usize, len: u32): i32 {
  if (kind == 1) { // MESSAGE: u64 seq, u32 flags, u32 topic_len, topic, payload
    if (len < 16) return EINVAL;
    const tl = load<u32>(ev, 12);
    if (tl > len - 16) return EINVAL;
    const pl = len - 16 - tl;
    if (pl > 65536) return EMSGSIZE;
    counter++;
    let n = ascii(OUT, "assemblyscript:");
    memory.copy(OUT + n, ev + 16 + tl, pl);
    n += pl;
    store<u8>(OUT + n, 58); // ':'
    n++;
    n += utoa(OUT + n, counter);
    return publish(TEXT, ascii(TEXT, "poly/assemblyscript/out"), OUT, n, 0);
  }
  if (kind == 3) { // CALL: u64 call_id, u32 from_len, from, request
    if (len < 12 || load<u32>(ev, 8) > len - 12) return EINVAL;
    call_reply(load<i64>(ev), OUT, utoa(OUT, counter));
  }
  return 0;
}

export function pk_snapshot(): i32 {
  store<u32>(TEXT, counter);
  return snapshot_write(TEXT, 4);
}

export function pk_restore(p: usize, len: u32): i32 {
  if (len != 4) return EINVAL;
  counter = load<u32>(p);
  return 0;
}

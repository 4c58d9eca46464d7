// The polyglot guest in Zig (0.11, wasm32-freestanding): see
// examples/polyglot/doc.go for what every guest does.
const lang = "zig";

const pk = struct {
    extern "pk" fn event_buffer(ptr: [*]u8, cap: u32) i32;
    extern "pk" fn subscribe(topic: [*]const u8, topic_len: u32, flags: u32) i32;
    extern "pk" fn log(level: i32, msg: [*]const u8, msg_len: u32, attrs: ?[*]const u8, attrs_len: u32) i32;
    extern "pk" fn publish(topic: [*]const u8, topic_len: u32, data: [*]const u8, data_len: u32, kind: u32) i32;
    extern "pk" fn call_reply(call_id: i64, data: [*]const u8, data_len: u32) i32;
    extern "pk" fn snapshot_write(ptr: [*]const u8, len: u32) i32;
};

const EINVAL = 2;
const EMSGSIZE = 9;

var evbuf: [65536]u8 = undefined;
var arena: [65536]u8 align(16) = undefined;
var out: [65536 + 32]u8 = undefined;
var counter: u32 = 0;

export fn pk_abi_version() i32 {
    return 1 << 16 | 0;
}

export fn pk_alloc(size: u32) ?[*]u8 {
    return if (size <= arena.len) &arena else null;
}

export fn pk_init() i32 {
    var e = pk.event_buffer(&evbuf, evbuf.len);
    if (e != 0) return e;
    const in = "poly/" ++ lang ++ "/in";
    e = pk.subscribe(in, in.len, 0);
    if (e != 0) return e;
    return pk.log(0, "ready", 5, null, 0);
}

fn le32(p: [*]const u8) u32 {
    return @as(u32, p[0]) | @as(u32, p[1]) << 8 | @as(u32, p[2]) << 16 | @as(u32, p[3]) << 24;
}

// utoa writes v in decimal at p and returns the number of digits.
fn utoa(p: [*]u8, v: u32) u32 {
    var n: u32 = 1;
    var t = v;
    while (t >= 10) : (t /= 10) n += 1;
    var i = n;
    var x = v;
    while (i > 0) {
        i -= 1;
        p[i] = @intCast('0' + x % 10);
        x /= 10;
    }
    return n;
}

export fn pk_event(kind: i32, ev: [*]const u8, len: u32) i32 {
    if (kind == 1) { // MESSAGE: u64 seq, u32 flags, u32 topic_len, topic, payload
        if (len < 16) return EINVAL;
        const tl = le32(ev + 12);
        if (tl > len - 16) return EINVAL;
        const payload = ev[16 + tl .. len];
        if (payload.len > 65536) return EMSGSIZE;
        counter +%= 1;
        const prefix = lang ++ ":";
        @memcpy(out[0..prefix.len], prefix);
        var n: u32 = prefix.len;
        @memcpy(out[n .. n + payload.len], payload);
        n += @intCast(payload.len);
        out[n] = ':';
        n += 1;
        n += utoa(out[n..].ptr, counter);
        const topic = "poly/" ++ lang ++ "/out";
        return pk.publish(topic, topic.len, &out, n, 0);
    }
    if (kind == 3) { // CALL: u64 call_id, u32 from_len, from, request
        if (len < 12 or le32(ev + 8) > len - 12) return EINVAL;
        const id = @as(u64, le32(ev)) | @as(u64, le32(ev + 4)) << 32;
        _ = pk.call_reply(@bitCast(id), &out, utoa(&out, counter));
    }
    return 0;
}

export fn pk_snapshot() i32 {
    var b: [4]u8 = undefined;
    b[0] = @truncate(counter);
    b[1] = @truncate(counter >> 8);
    b[2] = @truncate(counter >> 16);
    b[3] = @truncate(counter >> 24);
    return pk.snapshot_write(&b, 4);
}

export fn pk_restore(p: [*]const u8, len: u32) i32 {
    if (len != 4) return EINVAL;
    counter = le32(p);
    return 0;
}

;; The polyglot guest in hand-written WebAssembly text: see
;; examples/polyglot/doc.go for what every guest does.
;;
;; Memory (5 pages):
;;   0        "wat:"          16  "poly/wat/in"   32  "poly/wat/out"   48  "ready"
;;   64       4-byte scratch for pk_snapshot
;;   65536    event buffer (64 KiB, registered with event_buffer)
;;   131072   pk_alloc arena (64 KiB)
;;   196608   output buffer (64 KiB + 32)
(module
  (import "pk" "event_buffer" (func $event_buffer (param i32 i32) (result i32)))
  (import "pk" "subscribe" (func $subscribe (param i32 i32 i32) (result i32)))
  (import "pk" "log" (func $log (param i32 i32 i32 i32 i32) (result i32)))
  (import "pk" "publish" (func $publish (param i32 i32 i32 i32 i32) (result i32)))
  (import "pk" "call_reply" (func $call_reply (param i64 i32 i32) (result i32)))
  (import "pk" "snapshot_write" (func $snapshot_write (param i32 i32) (result i32)))

  (memory (export "memory") 5)
  (data (i32.const 0) "wat:")
  (data (i32.const 16) "poly/wat/in")
  (data (i32.const 32) "poly/wat/out")
  (data (i32.const 48) "ready")

  (global $counter (mut i32) (i32.const 0))

  (func (export "pk_abi_version") (result i32) (i32.const 0x00010000))

  (func (export "pk_alloc") (param $size i32) (result i32)
    (select (i32.const 0) (i32.const 131072) (i32.gt_u (local.get $size) (i32.const 65536))))

  (func (export "pk_init") (result i32)
    (local $e i32)
    (local.set $e (call $event_buffer (i32.const 65536) (i32.const 65536)))
    (if (local.get $e) (then (return (local.get $e))))
    (local.set $e (call $subscribe (i32.const 16) (i32.const 11) (i32.const 0)))
    (if (local.get $e) (then (return (local.get $e))))
    (call $log (i32.const 0) (i32.const 48) (i32.const 5) (i32.const 0) (i32.const 0)))

  ;; $utoa writes $v in decimal at $p and returns the number of digits.
  (func $utoa (param $p i32) (param $v i32) (result i32)
    (local $n i32) (local $t i32) (local $i i32)
    (local.set $n (i32.const 1))
    (local.set $t (local.get $v))
    (block $done
      (loop $count
        (br_if $done (i32.lt_u (local.get $t) (i32.const 10)))
        (local.set $t (i32.div_u (local.get $t) (i32.const 10)))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $count)))
    (local.set $i (local.get $n))
    (loop $digit
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (i32.store8 (i32.add (local.get $p) (local.get $i))
        (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
      (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
      (br_if $digit (local.get $i)))
    (local.get $n))

  ;; $copy copies $n bytes from $src to $dst (MVP: no bulk memory).
  (func $copy (param $dst i32) (param $src i32) (param $n i32)
    (block $done
      (loop $byte
        (br_if $done (i32.eqz (local.get $n)))
        (i32.store8 (local.get $dst) (i32.load8_u (local.get $src)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
        (local.set $src (i32.add (local.get $src) (i32.const 1)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $byte))))

  (func (export "pk_event") (param $kind i32) (param $ev i32) (param $len i32) (result i32)
    (local $tl i32) (local $pl i32) (local $n i32)
    ;; MESSAGE: u64 seq, u32 flags, u32 topic_len, topic, payload
    (if (i32.eq (local.get $kind) (i32.const 1))
      (then
        (if (i32.lt_u (local.get $len) (i32.const 16)) (then (return (i32.const 2))))
        (local.set $tl (i32.load offset=12 align=1 (local.get $ev)))
        (if (i32.gt_u (local.get $tl) (i32.sub (local.get $len) (i32.const 16)))
          (then (return (i32.const 2))))
        (local.set $pl (i32.sub (i32.sub (local.get $len) (i32.const 16)) (local.get $tl)))
        (if (i32.gt_u (local.get $pl) (i32.const 65536)) (then (return (i32.const 9))))
        (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
        (call $copy (i32.const 196608) (i32.const 0) (i32.const 4))
        (call $copy (i32.const 196612)
          (i32.add (i32.add (local.get $ev) (i32.const 16)) (local.get $tl)) (local.get $pl))
        (local.set $n (i32.add (i32.const 4) (local.get $pl)))
        (i32.store8 (i32.add (i32.const 196608) (local.get $n)) (i32.const 58)) ;; ':'
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (local.set $n (i32.add (local.get $n)
          (call $utoa (i32.add (i32.const 196608) (local.get $n)) (global.get $counter))))
        (return (call $publish (i32.const 32) (i32.const 12)
          (i32.const 196608) (local.get $n) (i32.const 0)))))
    ;; CALL: u64 call_id, u32 from_len, from, request
    (if (i32.eq (local.get $kind) (i32.const 3))
      (then
        (if (i32.lt_u (local.get $len) (i32.const 12)) (then (return (i32.const 2))))
        (if (i32.gt_u (i32.load offset=8 align=1 (local.get $ev)) (i32.sub (local.get $len) (i32.const 12)))
          (then (return (i32.const 2))))
        (drop (call $call_reply (i64.load align=1 (local.get $ev))
          (i32.const 196608) (call $utoa (i32.const 196608) (global.get $counter))))))
    (i32.const 0))

  (func (export "pk_snapshot") (result i32)
    (i32.store (i32.const 64) (global.get $counter))
    (call $snapshot_write (i32.const 64) (i32.const 4)))

  (func (export "pk_restore") (param $ptr i32) (param $len i32) (result i32)
    (if (i32.ne (local.get $len) (i32.const 4)) (then (return (i32.const 2))))
    (global.set $counter (i32.load align=1 (local.get $ptr)))
    (i32.const 0)))

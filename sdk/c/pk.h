/*
 * pk.h: the p-kernel guest ABI v1.1 for C (clang --target=wasm32).
 *
 * One header, no library: the syscall imports of module "pk", the error codes
 * and constants, little-endian decoders for the event layouts, and macros for
 * the exports a guest must provide. The reference is abi/README.md; the values
 * mirror the Go package abi, and examples/polyglot/polyglot_test.go checks
 * that they agree.
 *
 * Every syscall returns a pk_errno_t (0 = PK_OK). Pointers and lengths are
 * wasm i32 offsets into the guest's memory; the i64 parameters (timer_set,
 * timer_cancel, call_reply, fs_read) are int64_t. Integers in guest memory are
 * little-endian; strings are UTF-8, pointer + length, not NUL-terminated.
 *
 * A guest (see sdk/c/README.md and examples/polyglot/c/guest.c):
 *
 *	#include "pk.h"
 *	PK_EXPORT_ABI_VERSION()
 *	PK_EXPORT_STATIC_ALLOC(65536)
 *	PK_EXPORT(pk_init) int32_t pk_init(void) { ... return PK_OK; }
 *	PK_EXPORT(pk_event) int32_t pk_event(int32_t kind, uint8_t *ev, uint32_t len) { ... }
 *	// optional:
 *	PK_EXPORT(pk_snapshot) int32_t pk_snapshot(void) { ... }
 *	PK_EXPORT(pk_restore) int32_t pk_restore(uint8_t *p, uint32_t len) { ... }
 */
#ifndef PK_H
#define PK_H

#if !defined(__wasm32__)
#error "pk.h is for wasm32 guests: build with clang --target=wasm32"
#endif

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- version (abi.Major, abi.Minor) ---- */

#define PK_ABI_MAJOR 1
#define PK_ABI_MINOR 1 /* 1.1 added the fs group */
/* What pk_abi_version returns: major<<16 | minor. */
#define PK_ABI_VERSION ((PK_ABI_MAJOR << 16) | PK_ABI_MINOR)

/* ---- error codes (abi.Errno) ---- */

typedef int32_t pk_errno_t;

#define PK_OK 0
#define PK_EFAULT 1
#define PK_EINVAL 2
#define PK_E2BIG 3
#define PK_ENOENT 4
#define PK_EPERM 5
#define PK_EAGAIN 6
#define PK_ETIMEDOUT 7
#define PK_ENAMETOOLONG 8
#define PK_EMSGSIZE 9
#define PK_EDEADLK 10
#define PK_EKIND 11
#define PK_ESTATE 12
#define PK_ECALLFAILED 13
#define PK_EUNAVAILABLE 14
#define PK_EIO 15
#define PK_ENOMEM 16
#define PK_ESHUTDOWN 17
#define PK_ENOTSUP 18

/* ---- events (abi.EventKind and friends) ---- */

#define PK_EVENT_MESSAGE 1
#define PK_EVENT_TIMER 2
#define PK_EVENT_CALL 3
#define PK_EVENT_LIFECYCLE 4
#define PK_EVENT_MEMBER 5 /* reserved */

#define PK_MSG_RETAINED 1
#define PK_MSG_LATEST 2

#define PK_LIFE_STARTED 1
#define PK_LIFE_STOPPING 2

#define PK_REASON_FRESH 1
#define PK_REASON_RESTART 2
#define PK_REASON_SWAP 3
#define PK_REASON_UNLOAD 4
#define PK_REASON_SHUTDOWN 5
#define PK_REASON_RESUME 6

#define PK_MESSAGE_HEADER_SIZE 16
#define PK_TIMER_EVENT_SIZE 16
#define PK_CALL_HEADER_SIZE 12
#define PK_LIFECYCLE_EVENT_SIZE 8

/* ---- syscall arguments ---- */

#define PK_KIND_ANY 0    /* publish only: the topic's kind; a new topic is a queue */
#define PK_KIND_QUEUE 1
#define PK_KIND_LATEST 2

#define PK_SCOPE_LOCAL 0
#define PK_SCOPE_CLUSTER 1

#define PK_SUB_PREFIX 1

#define PK_CLOCK_REALTIME 0
#define PK_CLOCK_MONOTONIC 1

#define PK_LEVEL_DEBUG (-4)
#define PK_LEVEL_INFO 0
#define PK_LEVEL_WARN 4
#define PK_LEVEL_ERROR 8

/* ---- limits ---- */

#define PK_MAX_TOPIC_LEN 255
#define PK_MAX_PAYLOAD (4 << 20)
#define PK_MAX_KEY_LEN 1024
#define PK_MAX_VALUE_LEN (4 << 20)
#define PK_MAX_MODULE_NAME 64
#define PK_MAX_TIMERS 1024
#define PK_MAX_SUBS 1024
#define PK_MAX_LOG_LEN (16 << 10)
#define PK_MIN_TIMER_NS 1000000
#define PK_MAX_SNAPSHOT PK_MAX_PAYLOAD
/* p-fs (the fs group): names live in the namespace "shared". */
#define PK_MAX_FS_NAME 4096
#define PK_MAX_FS_READ PK_MAX_PAYLOAD
#define PK_FS_ID_SIZE 32
/* fs_stat writes: u64 size, id[32], i64 time_unix_ns, u32 versions, u32 0. */
#define PK_FS_STAT_SIZE 56

/* ---- syscalls: import module "pk", in the order of abi/README.md ---- */

#define PK_IMPORT(name) __attribute__((import_module("pk"), import_name(#name)))

/* core */
PK_IMPORT(result_take) pk_errno_t pk_result_take(void *buf, uint32_t cap, uint32_t *len_out);
PK_IMPORT(event_buffer) pk_errno_t pk_event_buffer(void *ptr, uint32_t cap);
PK_IMPORT(snapshot_write) pk_errno_t pk_snapshot_write(const void *ptr, uint32_t len);
PK_IMPORT(self_info) pk_errno_t pk_self_info(void *buf, uint32_t cap, uint32_t *len_out);
/* log */
PK_IMPORT(log) pk_errno_t pk_log(int32_t level, const void *msg, uint32_t msg_len, const void *attrs, uint32_t attrs_len);
/* clock */
PK_IMPORT(clock_now) pk_errno_t pk_clock_now(uint32_t clock, uint64_t *out);
/* random */
PK_IMPORT(random_fill) pk_errno_t pk_random_fill(void *buf, uint32_t len);
/* bus */
PK_IMPORT(topic_declare) pk_errno_t pk_topic_declare(const void *topic, uint32_t topic_len, uint32_t kind, uint32_t scope);
PK_IMPORT(publish) pk_errno_t pk_publish(const void *topic, uint32_t topic_len, const void *data, uint32_t data_len, uint32_t kind);
PK_IMPORT(subscribe) pk_errno_t pk_subscribe(const void *topic, uint32_t topic_len, uint32_t flags);
PK_IMPORT(unsubscribe) pk_errno_t pk_unsubscribe(const void *topic, uint32_t topic_len, uint32_t flags);
PK_IMPORT(topic_get) pk_errno_t pk_topic_get(const void *topic, uint32_t topic_len, void *buf, uint32_t cap, uint32_t *len_out, uint64_t *seq_out);
/* timer */
PK_IMPORT(timer_set) pk_errno_t pk_timer_set(int64_t delay_ns, int64_t period_ns, uint64_t *id_out);
PK_IMPORT(timer_cancel) pk_errno_t pk_timer_cancel(int64_t id);
/* kv */
PK_IMPORT(kv_get) pk_errno_t pk_kv_get(const void *key, uint32_t key_len, void *buf, uint32_t cap, uint32_t *len_out);
PK_IMPORT(kv_put) pk_errno_t pk_kv_put(const void *key, uint32_t key_len, const void *val, uint32_t val_len);
PK_IMPORT(kv_delete) pk_errno_t pk_kv_delete(const void *key, uint32_t key_len);
PK_IMPORT(kv_list) pk_errno_t pk_kv_list(const void *prefix, uint32_t prefix_len, void *buf, uint32_t cap, uint32_t *len_out);
/* call */
PK_IMPORT(call) pk_errno_t pk_call(const void *module, uint32_t module_len, const void *req, uint32_t req_len, void *buf, uint32_t cap, uint32_t *len_out, int32_t timeout_ms);
PK_IMPORT(call_reply) pk_errno_t pk_call_reply(int64_t call_id, const void *data, uint32_t data_len);
/* node */
PK_IMPORT(node_status) pk_errno_t pk_node_status(void *buf, uint32_t cap, uint32_t *len_out);
/* fs (ABI v1.1; group "fs", never granted by default) */
PK_IMPORT(fs_put) pk_errno_t pk_fs_put(const void *name, uint32_t name_len, const void *data, uint32_t data_len, uint8_t *id_out);
PK_IMPORT(fs_read) pk_errno_t pk_fs_read(const void *ref, uint32_t ref_len, int64_t offset, void *buf, uint32_t cap, uint32_t *len_out);
PK_IMPORT(fs_stat) pk_errno_t pk_fs_stat(const void *ref, uint32_t ref_len, uint8_t *out);
PK_IMPORT(fs_list) pk_errno_t pk_fs_list(const void *prefix, uint32_t prefix_len, void *buf, uint32_t cap, uint32_t *len_out);
PK_IMPORT(fs_remove) pk_errno_t pk_fs_remove(const void *name, uint32_t name_len);

/* ---- little-endian helpers ---- */

static inline uint32_t pk_le32(const uint8_t *p) {
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t pk_le64(const uint8_t *p) {
	return (uint64_t)pk_le32(p) | (uint64_t)pk_le32(p + 4) << 32;
}
static inline void pk_put_le32(uint8_t *p, uint32_t v) {
	p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}
static inline void pk_put_le64(uint8_t *p, uint64_t v) {
	pk_put_le32(p, (uint32_t)v), pk_put_le32(p + 4, (uint32_t)(v >> 32));
}

/* ---- event decoders: PK_OK, or PK_EINVAL when len is too short for the layout ---- */

/* PK_EVENT_MESSAGE: u64 seq, u32 flags, u32 topic_len, topic, payload. */
typedef struct {
	uint64_t seq;
	uint32_t flags; /* PK_MSG_RETAINED | PK_MSG_LATEST */
	const uint8_t *topic;
	uint32_t topic_len;
	const uint8_t *payload;
	uint32_t payload_len;
} pk_message;

static inline pk_errno_t pk_decode_message(const uint8_t *ev, uint32_t len, pk_message *m) {
	if (len < PK_MESSAGE_HEADER_SIZE) return PK_EINVAL;
	uint32_t tl = pk_le32(ev + 12);
	if (tl > len - PK_MESSAGE_HEADER_SIZE) return PK_EINVAL;
	m->seq = pk_le64(ev);
	m->flags = pk_le32(ev + 8);
	m->topic = ev + PK_MESSAGE_HEADER_SIZE;
	m->topic_len = tl;
	m->payload = m->topic + tl;
	m->payload_len = len - PK_MESSAGE_HEADER_SIZE - tl;
	return PK_OK;
}

/* PK_EVENT_TIMER: u64 timer_id, u64 now_unix_ns. */
typedef struct {
	uint64_t id;
	int64_t now_unix_ns;
} pk_timer;

static inline pk_errno_t pk_decode_timer(const uint8_t *ev, uint32_t len, pk_timer *t) {
	if (len < PK_TIMER_EVENT_SIZE) return PK_EINVAL;
	t->id = pk_le64(ev);
	t->now_unix_ns = (int64_t)pk_le64(ev + 8);
	return PK_OK;
}

/* PK_EVENT_CALL: u64 call_id, u32 from_len, from, request. */
typedef struct {
	uint64_t id; /* pass to pk_call_reply as (int64_t)id */
	const uint8_t *from;
	uint32_t from_len;
	const uint8_t *request;
	uint32_t request_len;
} pk_call_event;

static inline pk_errno_t pk_decode_call(const uint8_t *ev, uint32_t len, pk_call_event *c) {
	if (len < PK_CALL_HEADER_SIZE) return PK_EINVAL;
	uint32_t fl = pk_le32(ev + 8);
	if (fl > len - PK_CALL_HEADER_SIZE) return PK_EINVAL;
	c->id = pk_le64(ev);
	c->from = ev + PK_CALL_HEADER_SIZE;
	c->from_len = fl;
	c->request = c->from + fl;
	c->request_len = len - PK_CALL_HEADER_SIZE - fl;
	return PK_OK;
}

/* PK_EVENT_LIFECYCLE: u32 code, u32 reason. */
typedef struct {
	uint32_t code;   /* PK_LIFE_* */
	uint32_t reason; /* PK_REASON_* */
} pk_lifecycle;

static inline pk_errno_t pk_decode_lifecycle(const uint8_t *ev, uint32_t len, pk_lifecycle *l) {
	if (len < PK_LIFECYCLE_EVENT_SIZE) return PK_EINVAL;
	l->code = pk_le32(ev);
	l->reason = pk_le32(ev + 4);
	return PK_OK;
}

/* ---- guest exports ---- */

/*
 * PK_EXPORT(name) exports a function under its own name, so no
 * -Wl,--export flags are needed. The host calls:
 *
 *	int32_t  pk_abi_version(void);                 required (PK_EXPORT_ABI_VERSION)
 *	uint8_t *pk_alloc(uint32_t size);              required (PK_EXPORT_STATIC_ALLOC, or your own)
 *	int32_t  pk_init(void);                        required
 *	int32_t  pk_event(int32_t kind, uint8_t *ev, uint32_t len);  required
 *	int32_t  pk_snapshot(void);                    optional: call pk_snapshot_write
 *	int32_t  pk_restore(uint8_t *p, uint32_t len); optional
 *
 * plus "memory", which wasm-ld exports by default.
 */
#define PK_EXPORT(name) __attribute__((export_name(#name), visibility("default")))

/* Defines pk_abi_version, returning PK_ABI_VERSION. */
#define PK_EXPORT_ABI_VERSION()                                                                                        \
	PK_EXPORT(pk_abi_version) int32_t pk_abi_version(void) { return PK_ABI_VERSION; }

/*
 * Defines pk_alloc over one static arena of `bytes` bytes: every call returns
 * the same buffer, or 0 when size > bytes. That is enough for the contract:
 * the buffer need only live until the host's next call into the guest returns.
 */
#define PK_EXPORT_STATIC_ALLOC(bytes)                                                                                  \
	static uint8_t pk__arena[(bytes)] __attribute__((aligned(16)));                                                \
	PK_EXPORT(pk_alloc) uint8_t *pk_alloc(uint32_t size) { return size <= sizeof pk__arena ? pk__arena : 0; }

#ifdef __cplusplus
}
#endif

#endif /* PK_H */

// The polyglot guest in C: see examples/polyglot/doc.go for what every guest does.
#include "pk.h"

#define LANG "c"
#define STR(s) s, sizeof(s) - 1

static uint8_t evbuf[65536];
static uint8_t out[65536 + 32];
static uint32_t counter;

PK_EXPORT_ABI_VERSION()
PK_EXPORT_STATIC_ALLOC(65536)

PK_EXPORT(pk_init) int32_t pk_init(void) {
	pk_errno_t e;
	if ((e = pk_event_buffer(evbuf, sizeof evbuf)) != PK_OK) return e;
	if ((e = pk_subscribe(STR("poly/" LANG "/in"), 0)) != PK_OK) return e;
	return pk_log(PK_LEVEL_INFO, STR("ready"), 0, 0);
}

// utoa writes v in decimal at p and returns the number of digits.
static uint32_t utoa(uint8_t *p, uint32_t v) {
	uint8_t tmp[10];
	uint32_t n = 0, i = 0;
	do tmp[n++] = (uint8_t)('0' + v % 10); while ((v /= 10) != 0);
	while (n) p[i++] = tmp[--n];
	return i;
}

static uint32_t copy(uint8_t *dst, const uint8_t *src, uint32_t n) {
	for (uint32_t i = 0; i < n; i++) dst[i] = src[i];
	return n;
}

PK_EXPORT(pk_event) int32_t pk_event(int32_t kind, uint8_t *ev, uint32_t len) {
	if (kind == PK_EVENT_MESSAGE) {
		pk_message m;
		if (pk_decode_message(ev, len, &m) != PK_OK) return PK_EINVAL;
		if (m.payload_len > 65536) return PK_EMSGSIZE;
		counter++;
		uint32_t n = copy(out, (const uint8_t *)LANG ":", sizeof LANG);
		n += copy(out + n, m.payload, m.payload_len);
		out[n++] = ':';
		n += utoa(out + n, counter);
		return pk_publish(STR("poly/" LANG "/out"), out, n, PK_KIND_ANY);
	}
	if (kind == PK_EVENT_CALL) {
		pk_call_event c;
		if (pk_decode_call(ev, len, &c) != PK_OK) return PK_EINVAL;
		pk_call_reply((int64_t)c.id, out, utoa(out, counter));
	}
	return PK_OK;
}

PK_EXPORT(pk_snapshot) int32_t pk_snapshot(void) {
	uint8_t b[4];
	pk_put_le32(b, counter);
	return pk_snapshot_write(b, 4);
}

PK_EXPORT(pk_restore) int32_t pk_restore(uint8_t *p, uint32_t len) {
	if (len != 4) return PK_EINVAL;
	counter = pk_le32(p);
	return PK_OK;
}

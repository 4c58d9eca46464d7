//go:build wasip1

package pk

import "unsafe"

// The raw syscalls, one per abi.Syscalls() entry; see abi/README.md.

//go:wasmimport pk result_take
func sysResultTake(buf unsafe.Pointer, cap uint32, lenOut unsafe.Pointer) uint32

//go:wasmimport pk event_buffer
func sysEventBuffer(ptr unsafe.Pointer, cap uint32) uint32

//go:wasmimport pk snapshot_write
func sysSnapshotWrite(ptr unsafe.Pointer, n uint32) uint32

//go:wasmimport pk self_info
func sysSelfInfo(buf unsafe.Pointer, cap uint32, lenOut unsafe.Pointer) uint32

//go:wasmimport pk log
func sysLog(level int32, msg unsafe.Pointer, msgLen uint32, attrs unsafe.Pointer, attrsLen uint32) uint32

//go:wasmimport pk clock_now
func sysClockNow(clock uint32, out unsafe.Pointer) uint32

//go:wasmimport pk random_fill
func sysRandomFill(buf unsafe.Pointer, n uint32) uint32

//go:wasmimport pk topic_declare
func sysTopicDeclare(topic unsafe.Pointer, topicLen uint32, kind uint32, scope uint32) uint32

//go:wasmimport pk publish
func sysPublish(topic unsafe.Pointer, topicLen uint32, data unsafe.Pointer, dataLen uint32, kind uint32) uint32

//go:wasmimport pk subscribe
func sysSubscribe(topic unsafe.Pointer, topicLen uint32, flags uint32) uint32

//go:wasmimport pk unsubscribe
func sysUnsubscribe(topic unsafe.Pointer, topicLen uint32, flags uint32) uint32

//go:wasmimport pk topic_get
func sysTopicGet(topic unsafe.Pointer, topicLen uint32, buf unsafe.Pointer, cap uint32, lenOut unsafe.Pointer, seqOut unsafe.Pointer) uint32

//go:wasmimport pk timer_set
func sysTimerSet(delay int64, period int64, idOut unsafe.Pointer) uint32

//go:wasmimport pk timer_cancel
func sysTimerCancel(id int64) uint32

//go:wasmimport pk kv_get
func sysKVGet(key unsafe.Pointer, keyLen uint32, buf unsafe.Pointer, cap uint32, lenOut unsafe.Pointer) uint32

//go:wasmimport pk kv_put
func sysKVPut(key unsafe.Pointer, keyLen uint32, val unsafe.Pointer, valLen uint32) uint32

//go:wasmimport pk kv_delete
func sysKVDelete(key unsafe.Pointer, keyLen uint32) uint32

//go:wasmimport pk kv_list
func sysKVList(prefix unsafe.Pointer, prefixLen uint32, buf unsafe.Pointer, cap uint32, lenOut unsafe.Pointer) uint32

//go:wasmimport pk call
func sysCall(module unsafe.Pointer, moduleLen uint32, req unsafe.Pointer, reqLen uint32, buf unsafe.Pointer, cap uint32, lenOut unsafe.Pointer, timeoutMS int32) uint32

//go:wasmimport pk call_reply
func sysCallReply(id int64, data unsafe.Pointer, dataLen uint32) uint32

//go:wasmimport pk node_status
func sysNodeStatus(buf unsafe.Pointer, cap uint32, lenOut unsafe.Pointer) uint32

//go:wasmimport pk fs_put
func sysFSPut(name unsafe.Pointer, nameLen uint32, data unsafe.Pointer, dataLen uint32, idOut unsafe.Pointer) uint32

//go:wasmimport pk fs_read
func sysFSRead(ref unsafe.Pointer, refLen uint32, offset int64, buf unsafe.Pointer, cap uint32, lenOut unsafe.Pointer) uint32

//go:wasmimport pk fs_stat
func sysFSStat(ref unsafe.Pointer, refLen uint32, out unsafe.Pointer) uint32

//go:wasmimport pk fs_list
func sysFSList(prefix unsafe.Pointer, prefixLen uint32, buf unsafe.Pointer, cap uint32, lenOut unsafe.Pointer) uint32

//go:wasmimport pk fs_remove
func sysFSRemove(name unsafe.Pointer, nameLen uint32) uint32

func sptr(s string) unsafe.Pointer { return unsafe.Pointer(unsafe.StringData(s)) }
func bptr(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }

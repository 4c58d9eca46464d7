package syscall

import "time"

// nowUnixNano is a variable so tests can pin the clock.
var nowUnixNano = func() int64 { return time.Now().UnixNano() }

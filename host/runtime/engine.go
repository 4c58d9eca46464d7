package runtime

import goruntime "runtime"

// Engine names the engine [New] runs guests on: "compiler" where wazero
// compiles them to machine code, else "interpreter". It mirrors wazero's
// own automatic choice (internal/platform.CompilerSupported in wazero
// v1.12): the compiler on amd64 and arm64 under linux, darwin, freebsd,
// netbsd and windows, and on amd64 under dragonfly, solaris and illumos;
// every other platform interprets. In particular android/arm64 (phones,
// Termux) interprets: slower, and no executable memory at all.
//
// The compiler writes machine code into anonymous memory it maps and then
// makes executable; the compilation cache (Config.CacheDir) stores that
// code as bytes that are read back into such memory, never mapped or run
// from the file.
func Engine(interpreter bool) string {
	if interpreter {
		return "interpreter"
	}
	switch goruntime.GOOS {
	case "linux", "darwin", "freebsd", "netbsd", "windows":
		if goruntime.GOARCH == "arm64" || goruntime.GOARCH == "amd64" {
			return "compiler"
		}
	case "dragonfly", "solaris", "illumos":
		if goruntime.GOARCH == "amd64" {
			return "compiler"
		}
	}
	return "interpreter"
}

// Package tests holds the end-to-end and fault tests of p-kernel: they build
// the real pkhost binary, start nodes on temp directories and drive them
// through the CLI and the control API (see tests/testenv). Nothing imports
// this package.
package tests

// Package pid1 runs pkhost as the init process of a boot image: it mounts
// the kernel's file systems, loads the kernel modules shipped in the
// initramfs, brings up the network (DHCP or static addresses from the kernel
// command line, with /etc/resolv.conf from the lease or pk.dns), finds a
// persistent data partition (else keeps the data in RAM and says so), reaps
// orphans, runs the node and powers off or reboots cleanly when it stops.
//
// Everything is configured from the kernel command line (see [Config]).
// The linux-only parts live in files with the _linux suffix; the parsers,
// the module ordering, the DHCP codec and the resolv.conf writer are
// portable and tested anywhere.
package pid1

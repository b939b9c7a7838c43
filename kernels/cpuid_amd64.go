//go:build amd64 && !noasm

package kernels

// cpuid executes CPUID with EAX = leaf and ECX = sub.
func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)

// hasPrefetchW reports whether the CPU has PREFETCHW (CPUID
// 8000_0001h:ECX bit 8, PRFCHW): a prefetch with intent to write, which
// takes a cache line owned, so that a store to a line another core has read
// need not wait for that core to give its copy up. The micro-kernels and
// Adam's update use it where it is set (the assembly reads it; tests turn it
// off to check the other path). Go's assembler has no mnemonic for the
// instruction, so the assembly spells out its bytes.
var hasPrefetchW = detectPrefetchW()

func detectPrefetchW() bool {
	if maxExt, _, _, _ := cpuid(0x80000000, 0); maxExt < 0x80000001 {
		return false
	}
	_, _, ecx, _ := cpuid(0x80000001, 0)
	return ecx&(1<<8) != 0
}

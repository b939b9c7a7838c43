package gpu

// paramAlign is the alignment, in floats, of each parameter within a
// module's buffers: 128 bytes, so that the kernels' vector loads of a
// parameter are aligned as in a buffer of its own.
const paramAlign = 32

// paramOffsets lays out parameters of the given sizes (in floats) in one
// buffer, so that one kernel updates them all: the offset of each, every
// one rounded up to paramAlign floats, and the floats in all. The gaps
// hold zeros, which an update leaves at zero (a zero gradient, zero
// moments and a zero velocity change nothing).
func paramOffsets(sizes []int) (offsets []int, total int) {
	for _, n := range sizes {
		offsets = append(offsets, total)
		total += (n + paramAlign - 1) / paramAlign * paramAlign
	}
	return offsets, total
}

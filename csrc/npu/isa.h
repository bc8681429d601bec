/* isa.h - the modelled vector instruction set: each call executes on UB data and charges its cycles. */
#ifndef ENEC_NPU_ISA_H
#define ENEC_NPU_ISA_H
#include "device.h"

/* Conventions, as on the hardware (docs/NPU.md, "Instruction set"):
 * - operands are UB byte offsets, 32-byte aligned;
 * - an instruction works on lanes [lo, hi) of its operands: lanes below lo
 *   or from hi up to the end of the last 32-byte block are masked off and
 *   keep their value (a lane mask costs mask_cycles);
 * - 256 bytes per repeat, at most max_repeat repeats per instruction (longer
 *   calls are split, each part paying the startup);
 * - a source may be the destination itself (same address, same element
 *   size) or disjoint from it; any other overlap would read lanes the
 *   instruction writes and raises NPU_ERR_SEGMENT.
 * The *_n forms are shorthands for lo = 0, hi = n. */

/* Broadcast a scalar (Duplicate), and an index ramp start + i * step (CreateVecIndex). */
void v_dup16(npu_device *d, uint32_t dst, uint16_t v, uint32_t lo, uint32_t hi);
/* Duplicate with strides (32-byte blocks): repeat r writes its 8 blocks at
 * dst + (r rep_stride + b blk_stride) 32. No ENEC kernel needs it; it lets the
 * tests check the bank model against the guide's examples. */
void v_dup16_strided(npu_device *d, uint32_t dst, uint16_t v, uint32_t blk_stride, uint32_t rep_stride,
                     uint32_t repeats);
void v_ci32(npu_device *d, uint32_t dst, uint32_t start, int32_t step, uint32_t lo, uint32_t hi);

/* Integer arithmetic on 16-bit lanes (wrapping) and 32-bit lanes. */
void v_add16(npu_device *d, uint32_t dst, uint32_t a, uint32_t b, uint32_t n);
void v_sub16(npu_device *d, uint32_t dst, uint32_t a, uint32_t b, uint32_t n);
void v_max16(npu_device *d, uint32_t dst, uint32_t a, uint32_t b, uint32_t n);   /* int16 */
void v_adds16(npu_device *d, uint32_t dst, uint32_t a, int16_t s, uint32_t n);
void v_muls16(npu_device *d, uint32_t dst, uint32_t a, int16_t s, uint32_t n);
void v_adds32(npu_device *d, uint32_t dst, uint32_t a, int32_t s, uint32_t lo, uint32_t hi);

/* Bitwise (16-bit lanes only on this generation; 32-bit data is handled as
 * twice the 16-bit lanes). ands: AND with a constant operand of repeat stride 0. */
void v_and16(npu_device *d, uint32_t dst, uint32_t a, uint32_t b, uint32_t n);
void v_or16(npu_device *d, uint32_t dst, uint32_t a, uint32_t b, uint32_t n);
void v_ands16(npu_device *d, uint32_t dst, uint32_t a, uint16_t s, uint32_t lo, uint32_t hi);

/* Shifts: shl/shr logical on unsigned lanes, sar arithmetic on int16. */
void v_shl16(npu_device *d, uint32_t dst, uint32_t a, unsigned s, uint32_t n);
void v_shr16(npu_device *d, uint32_t dst, uint32_t a, unsigned s, uint32_t lo, uint32_t hi);
void v_sar16(npu_device *d, uint32_t dst, uint32_t a, unsigned s, uint32_t n);
void v_shl32(npu_device *d, uint32_t dst, uint32_t a, unsigned s, uint32_t n);

/* Half-precision add (IEEE binary16, round to nearest even, subnormals kept). */
void v_addf16(npu_device *d, uint32_t dst, uint32_t a, uint32_t b, uint32_t n);

/* Compare half lanes with a half scalar (a > s): one bit per lane into
 * dst_bits (bit i at byte i >> 3, bit i & 7); bits beyond n in the last
 * byte are 0. */
void v_cmpgt_f16(npu_device *d, uint32_t dst_bits, uint32_t a, uint16_t s_half, uint32_t n);
/* Select: dst[i] = bit(i mod plen) of mask ? a[i] : s. plen = n for a plain
 * mask; a shorter plen reuses one mask for every row (mask repeat stride). */
void v_sels16(npu_device *d, uint32_t dst, uint32_t mask_bits, uint32_t plen, uint32_t a, uint16_t s,
              uint32_t n);

/* Gather: dst[i] = 16-bit lane at byte base + off[i] (off: u32 lanes), for lanes [lo, hi). */
void v_gather16(npu_device *d, uint32_t dst, uint32_t base, uint32_t off, uint32_t lo, uint32_t hi);
/* Gather-mask: keep the lanes of src whose pattern bit (i mod plen) is set,
 * packed from dst; the kept count goes to the count register. */
void v_gathermask16(npu_device *d, uint32_t dst, uint32_t src, uint32_t pattern_bits, uint32_t plen,
                    uint32_t n);
/* Gather-mask of 16-bit lanes by a fixed pattern: keep lane 2i + which (which = 0, 1). */
void v_pick16(npu_device *d, uint32_t dst, uint32_t src, unsigned which, uint32_t n_out);

/* Conversions: u8 -> u16 (zero extend), u16 -> u8 (low byte), u16 -> u32 (zero extend). */
void v_widen8(npu_device *d, uint32_t dst, uint32_t src, uint32_t n);
void v_narrow8(npu_device *d, uint32_t dst, uint32_t src, uint32_t n);
void v_widen16(npu_device *d, uint32_t dst, uint32_t src, uint32_t n);
/* Interleave two u16 arrays into u32 lanes hi << 16 | lo (a two-source gather pattern). */
void v_zip16(npu_device *d, uint32_t dst, uint32_t lo, uint32_t hi, uint32_t n);

/* 16x16 transpose of 16-bit tiles. Row r of source tile t is at
 * src + r * src_row + t * src_tile; row r of the transposed tile t goes to
 * dst + r * dst_row + t * dst_tile (the hardware takes one address per row). */
void v_transpose16(npu_device *d, uint32_t dst, uint32_t dst_row, uint32_t dst_tile, uint32_t src,
                   uint32_t src_row, uint32_t src_tile, uint32_t ntiles);

/* Reductions and scans on half lanes: sum of n lanes into dst[0]; inclusive
 * cumulative sum along each 16-lane row. */
void v_reducesum_f16(npu_device *d, uint32_t dst, uint32_t a, uint32_t n);
void v_cumsum_rows_f16(npu_device *d, uint32_t dst, uint32_t a, uint32_t rows);

/* binary16 <-> float, exact (used by the half instructions and the tests). */
float enec_npu_half_to_float(uint16_t h);
uint16_t enec_npu_float_to_half(float f);

#endif

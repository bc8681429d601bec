/* avx512_emu.h - portable models of the AVX-512 intrinsics kernels_avx512.c uses, for testing it on CPUs without AVX-512. */
#ifndef ENEC_AVX512_EMU_H
#define ENEC_AVX512_EMU_H
/* Built only with ENEC_AVX512_EMULATE (setup.py: ENEC_AVX512_EMULATE=1).
 * Each function follows the instruction's definition in Intel's Software
 * Developer's Manual, lane for lane, including its corner cases (shift
 * counts past the lane width, saturation, the per-128-bit-lane order of the
 * pack instructions), so a kernel bug shows up here as it would on the CPU.
 * Production builds never include this file. */
#include <stdint.h>
#include <string.h>

typedef union {
    uint8_t u8[64];
    uint16_t u16[32];
    int16_t i16[32];
    uint32_t u32[16];
    int32_t i32[16];
    uint64_t u64[8];
} enec_emu512;
typedef union {
    uint8_t u8[32];
} enec_emu256;
typedef union {
    uint8_t u8[16];
    uint64_t u64[2];
} enec_emu128;

#define __m512i enec_emu512
#define __m256i enec_emu256
#define __m128i enec_emu128
#define __mmask16 uint16_t
#define __mmask32 uint32_t
#define __mmask64 uint64_t

static inline enec_emu512 emu_loadu_si512(const void *p)
{
    enec_emu512 r;
    memcpy(&r, p, sizeof r);
    return r;
}
static inline void emu_storeu_si512(void *p, enec_emu512 a) { memcpy(p, &a, sizeof a); }
static inline enec_emu256 emu_loadu_si256(const enec_emu256 *p)
{
    enec_emu256 r;
    memcpy(&r, p, sizeof r);
    return r;
}
static inline enec_emu512 emu_set1_epi8(char v)
{
    enec_emu512 r;
    memset(r.u8, (unsigned char)v, sizeof r.u8);
    return r;
}
static inline enec_emu512 emu_set1_epi16(short v)
{
    enec_emu512 r;
    for (int i = 0; i < 32; i++) r.u16[i] = (uint16_t)v;
    return r;
}
static inline enec_emu512 emu_set1_epi32(int v)
{
    enec_emu512 r;
    for (int i = 0; i < 16; i++) r.u32[i] = (uint32_t)v;
    return r;
}
static inline enec_emu512 emu_and_si512(enec_emu512 a, enec_emu512 b)
{
    for (int i = 0; i < 8; i++) a.u64[i] &= b.u64[i];
    return a;
}
static inline enec_emu512 emu_or_si512(enec_emu512 a, enec_emu512 b)
{
    for (int i = 0; i < 8; i++) a.u64[i] |= b.u64[i];
    return a;
}
static inline enec_emu512 emu_sub_epi8(enec_emu512 a, enec_emu512 b)
{
    for (int i = 0; i < 64; i++) a.u8[i] = (uint8_t)(a.u8[i] - b.u8[i]);
    return a;
}
static inline enec_emu512 emu_sub_epi16(enec_emu512 a, enec_emu512 b)
{
    for (int i = 0; i < 32; i++) a.u16[i] = (uint16_t)(a.u16[i] - b.u16[i]);
    return a;
}
/* Immediate shifts: a count past the lane width clears the lane. */
static inline enec_emu512 emu_slli_epi16(enec_emu512 a, unsigned c)
{
    for (int i = 0; i < 32; i++) a.u16[i] = c > 15 ? 0 : (uint16_t)(a.u16[i] << c);
    return a;
}
static inline enec_emu512 emu_srli_epi16(enec_emu512 a, unsigned c)
{
    for (int i = 0; i < 32; i++) a.u16[i] = c > 15 ? 0 : (uint16_t)(a.u16[i] >> c);
    return a;
}
static inline enec_emu512 emu_srli_epi32(enec_emu512 a, unsigned c)
{
    for (int i = 0; i < 16; i++) a.u32[i] = c > 31 ? 0 : a.u32[i] >> c;
    return a;
}
/* Per-lane variable shifts (vpsllvw, vpsrlvw, vpsravw). */
static inline enec_emu512 emu_sllv_epi16(enec_emu512 a, enec_emu512 c)
{
    for (int i = 0; i < 32; i++) a.u16[i] = c.u16[i] > 15 ? 0 : (uint16_t)(a.u16[i] << c.u16[i]);
    return a;
}
static inline enec_emu512 emu_srlv_epi16(enec_emu512 a, enec_emu512 c)
{
    for (int i = 0; i < 32; i++) a.u16[i] = c.u16[i] > 15 ? 0 : (uint16_t)(a.u16[i] >> c.u16[i]);
    return a;
}
static inline enec_emu512 emu_srav_epi16(enec_emu512 a, enec_emu512 c)
{
    for (int i = 0; i < 32; i++) {
        unsigned s = c.u16[i] > 15 ? 15 : c.u16[i];
        int32_t x = a.i16[i];
        a.u16[i] = (uint16_t)(x < 0 ? ~(~x >> s) : x >> s); /* arithmetic, without relying on >> of negatives */
    }
    return a;
}
/* vpmovwb to memory under a write mask: the low byte of each selected word. */
static inline void emu_mask_cvtepi16_storeu_epi8(void *p, uint32_t k, enec_emu512 a)
{
    uint8_t *o = (uint8_t *)p;
    for (int i = 0; i < 32; i++)
        if ((k >> i) & 1) o[i] = (uint8_t)a.u16[i];
}
static inline enec_emu512 emu_cvtepu8_epi16(enec_emu256 a)
{
    enec_emu512 r;
    for (int i = 0; i < 32; i++) r.u16[i] = a.u8[i];
    return r;
}
static inline uint8_t emu_sat_u8(int16_t x) { return (uint8_t)(x < 0 ? 0 : x > 255 ? 255 : x); }
static inline uint16_t emu_sat_u16(int32_t x) { return (uint16_t)(x < 0 ? 0 : x > 65535 ? 65535 : x); }
/* The packs work within each 128-bit lane: a's half, then b's half. */
static inline enec_emu512 emu_packus_epi16(enec_emu512 a, enec_emu512 b)
{
    enec_emu512 r;
    for (int l = 0; l < 4; l++)
        for (int i = 0; i < 8; i++) {
            r.u8[16 * l + i] = emu_sat_u8(a.i16[8 * l + i]);
            r.u8[16 * l + 8 + i] = emu_sat_u8(b.i16[8 * l + i]);
        }
    return r;
}
static inline enec_emu512 emu_packus_epi32(enec_emu512 a, enec_emu512 b)
{
    enec_emu512 r;
    for (int l = 0; l < 4; l++)
        for (int i = 0; i < 4; i++) {
            r.u16[8 * l + i] = emu_sat_u16(a.i32[4 * l + i]);
            r.u16[8 * l + 4 + i] = emu_sat_u16(b.i32[4 * l + i]);
        }
    return r;
}
static inline uint64_t emu_cmpgt_epu8_mask(enec_emu512 a, enec_emu512 b)
{
    uint64_t k = 0;
    for (int i = 0; i < 64; i++) k |= (uint64_t)(a.u8[i] > b.u8[i]) << i;
    return k;
}
static inline uint64_t emu_test_epi8_mask(enec_emu512 a, enec_emu512 b)
{
    uint64_t k = 0;
    for (int i = 0; i < 64; i++) k |= (uint64_t)((a.u8[i] & b.u8[i]) != 0) << i;
    return k;
}
static inline uint32_t emu_test_epi16_mask(enec_emu512 a, enec_emu512 b)
{
    uint32_t k = 0;
    for (int i = 0; i < 32; i++) k |= (uint32_t)((a.u16[i] & b.u16[i]) != 0) << i;
    return k;
}
/* vpermt2w: index bits 0-4 pick a lane, bit 5 picks b over a. */
static inline enec_emu512 emu_permutex2var_epi16(enec_emu512 a, enec_emu512 idx, enec_emu512 b)
{
    enec_emu512 r;
    for (int i = 0; i < 32; i++) {
        unsigned j = idx.u16[i] & 63;
        r.u16[i] = j < 32 ? a.u16[j] : b.u16[j - 32];
    }
    return r;
}
/* vpcompressw: the selected lanes packed to the front, zeros after. */
static inline enec_emu512 emu_maskz_compress_epi16(uint32_t k, enec_emu512 a)
{
    enec_emu512 r;
    memset(&r, 0, sizeof r);
    for (int i = 0, o = 0; i < 32; i++)
        if ((k >> i) & 1) r.u16[o++] = a.u16[i];
    return r;
}
/* vpexpandw from memory: reads exactly popcount(k) words, nothing more. */
static inline enec_emu512 emu_maskz_expandloadu_epi16(uint32_t k, const void *p)
{
    const uint8_t *q = (const uint8_t *)p;
    enec_emu512 r;
    memset(&r, 0, sizeof r);
    for (int i = 0; i < 32; i++)
        if ((k >> i) & 1) {
            memcpy(&r.u16[i], q, 2);
            q += 2;
        }
    return r;
}

/* 32-bit lanes (mode max's rANS round). */
static inline enec_emu512 emu_setzero_si512(void)
{
    enec_emu512 r;
    memset(&r, 0, sizeof r);
    return r;
}
static inline enec_emu512 emu_add_epi32(enec_emu512 a, enec_emu512 b)
{
    for (int i = 0; i < 16; i++) a.u32[i] += b.u32[i];
    return a;
}
/* vpmulld: the low 32 bits of the product. */
static inline enec_emu512 emu_mullo_epi32(enec_emu512 a, enec_emu512 b)
{
    for (int i = 0; i < 16; i++) a.u32[i] = (uint32_t)((uint64_t)a.u32[i] * b.u32[i]);
    return a;
}
static inline enec_emu512 emu_slli_epi32(enec_emu512 a, unsigned c)
{
    for (int i = 0; i < 16; i++) a.u32[i] = c > 31 ? 0 : a.u32[i] << c;
    return a;
}
static inline uint16_t emu_cmpeq_epi32_mask(enec_emu512 a, enec_emu512 b)
{
    uint16_t k = 0;
    for (int i = 0; i < 16; i++) k |= (uint16_t)((a.u32[i] == b.u32[i]) << i);
    return k;
}
/* vpblendmd: lanes of b where k is set, of a elsewhere. */
static inline enec_emu512 emu_mask_blend_epi32(uint16_t k, enec_emu512 a, enec_emu512 b)
{
    for (int i = 0; i < 16; i++)
        if ((k >> i) & 1) a.u32[i] = b.u32[i];
    return a;
}
/* vpgatherdd: 16 dwords from base + index x scale (signed 32-bit indices). */
static inline enec_emu512 emu_i32gather_epi32(enec_emu512 idx, const void *base, int scale)
{
    enec_emu512 r;
    for (int i = 0; i < 16; i++) memcpy(&r.u32[i], (const uint8_t *)base + (int64_t)idx.i32[i] * scale, 4);
    return r;
}
/* vshufi32x4: 128-bit quarters, two from a then two from b, by imm's 2-bit fields. */
static inline enec_emu512 emu_shuffle_i32x4(enec_emu512 a, enec_emu512 b, int imm)
{
    enec_emu512 r;
    for (int q = 0; q < 4; q++) memcpy(&r.u32[4 * q], &(q < 2 ? a : b).u32[4 * ((imm >> (2 * q)) & 3)], 16);
    return r;
}
/* vpmovdb to memory under a write mask: the low byte of each selected dword. */
static inline void emu_mask_cvtepi32_storeu_epi8(void *p, uint16_t k, enec_emu512 a)
{
    uint8_t *o = (uint8_t *)p;
    for (int i = 0; i < 16; i++)
        if ((k >> i) & 1) o[i] = (uint8_t)a.u32[i];
}

/* Mode max's rANS encoder. */
static inline enec_emu128 emu_set_epi64x(long long hi, long long lo)
{
    enec_emu128 r;
    r.u64[0] = (uint64_t)lo, r.u64[1] = (uint64_t)hi;
    return r;
}
static inline enec_emu512 emu_cvtepu8_epi32(enec_emu128 a)
{
    enec_emu512 r;
    for (int i = 0; i < 16; i++) r.u32[i] = a.u8[i];
    return r;
}
static inline enec_emu512 emu_sub_epi32(enec_emu512 a, enec_emu512 b)
{
    for (int i = 0; i < 16; i++) a.u32[i] -= b.u32[i];
    return a;
}
static inline enec_emu512 emu_srli_epi64(enec_emu512 a, unsigned c)
{
    for (int i = 0; i < 8; i++) a.u64[i] = c > 63 ? 0 : a.u64[i] >> c;
    return a;
}
/* vpsrlvd: a count past 31 clears the lane. */
static inline enec_emu512 emu_srlv_epi32(enec_emu512 a, enec_emu512 c)
{
    for (int i = 0; i < 16; i++) a.u32[i] = c.u32[i] > 31 ? 0 : a.u32[i] >> c.u32[i];
    return a;
}
/* vpmuludq: the low dwords of each quadword, multiplied to 64 bits. */
static inline enec_emu512 emu_mul_epu32(enec_emu512 a, enec_emu512 b)
{
    for (int i = 0; i < 8; i++) a.u64[i] = (uint64_t)(uint32_t)a.u64[i] * (uint32_t)b.u64[i];
    return a;
}
static inline uint16_t emu_cmpge_epu32_mask(enec_emu512 a, enec_emu512 b)
{
    uint16_t k = 0;
    for (int i = 0; i < 16; i++) k |= (uint16_t)((a.u32[i] >= b.u32[i]) << i);
    return k;
}
/* vpcompressd: the selected dwords packed to the front, zeros after. */
static inline enec_emu512 emu_maskz_compress_epi32(uint16_t k, enec_emu512 a)
{
    enec_emu512 r;
    memset(&r, 0, sizeof r);
    for (int i = 0, o = 0; i < 16; i++)
        if ((k >> i) & 1) r.u32[o++] = a.u32[i];
    return r;
}
/* vpermd: lane i of the result is a's lane idx[i] mod 16. */
static inline enec_emu512 emu_permutexvar_epi32(enec_emu512 idx, enec_emu512 a)
{
    enec_emu512 r;
    for (int i = 0; i < 16; i++) r.u32[i] = a.u32[idx.u32[i] & 15];
    return r;
}
/* vpmovdw to memory under a write mask: the low word of each selected dword. */
static inline void emu_mask_cvtepi32_storeu_epi16(void *p, uint16_t k, enec_emu512 a)
{
    uint8_t *o = (uint8_t *)p;
    for (int i = 0; i < 16; i++)
        if ((k >> i) & 1) {
            uint16_t w = (uint16_t)a.u32[i];
            memcpy(o + 2 * i, &w, 2);
        }
}

#define _mm512_loadu_si512 emu_loadu_si512
#define _mm512_storeu_si512 emu_storeu_si512
#define _mm256_loadu_si256 emu_loadu_si256
#define _mm512_set1_epi8 emu_set1_epi8
#define _mm512_set1_epi16 emu_set1_epi16
#define _mm512_set1_epi32 emu_set1_epi32
#define _mm512_and_si512 emu_and_si512
#define _mm512_or_si512 emu_or_si512
#define _mm512_sub_epi8 emu_sub_epi8
#define _mm512_sub_epi16 emu_sub_epi16
#define _mm512_slli_epi16 emu_slli_epi16
#define _mm512_srli_epi16 emu_srli_epi16
#define _mm512_srli_epi32 emu_srli_epi32
#define _mm512_sllv_epi16 emu_sllv_epi16
#define _mm512_srlv_epi16 emu_srlv_epi16
#define _mm512_srav_epi16 emu_srav_epi16
#define _mm512_mask_cvtepi16_storeu_epi8 emu_mask_cvtepi16_storeu_epi8
#define _mm512_cvtepu8_epi16 emu_cvtepu8_epi16
#define _mm512_packus_epi16 emu_packus_epi16
#define _mm512_packus_epi32 emu_packus_epi32
#define _mm512_cmpgt_epu8_mask emu_cmpgt_epu8_mask
#define _mm512_test_epi8_mask emu_test_epi8_mask
#define _mm512_test_epi16_mask emu_test_epi16_mask
#define _mm512_permutex2var_epi16 emu_permutex2var_epi16
#define _mm512_maskz_compress_epi16 emu_maskz_compress_epi16
#define _mm512_maskz_expandloadu_epi16 emu_maskz_expandloadu_epi16
#define _mm512_setzero_si512 emu_setzero_si512
#define _mm512_add_epi32 emu_add_epi32
#define _mm512_mullo_epi32 emu_mullo_epi32
#define _mm512_slli_epi32 emu_slli_epi32
#define _mm512_cmpeq_epi32_mask emu_cmpeq_epi32_mask
#define _mm512_mask_blend_epi32 emu_mask_blend_epi32
#define _mm512_i32gather_epi32 emu_i32gather_epi32
#define _mm512_shuffle_i32x4 emu_shuffle_i32x4
#define _mm512_mask_cvtepi32_storeu_epi8 emu_mask_cvtepi32_storeu_epi8
#define _mm_set_epi64x emu_set_epi64x
#define _mm512_cvtepu8_epi32 emu_cvtepu8_epi32
#define _mm512_sub_epi32 emu_sub_epi32
#define _mm512_srli_epi64 emu_srli_epi64
#define _mm512_srlv_epi32 emu_srlv_epi32
#define _mm512_mul_epu32 emu_mul_epu32
#define _mm512_cmpge_epu32_mask emu_cmpge_epu32_mask
#define _mm512_maskz_compress_epi32 emu_maskz_compress_epi32
#define _mm512_permutexvar_epi32 emu_permutexvar_epi32
#define _mm512_mask_cvtepi32_storeu_epi16 emu_mask_cvtepi32_storeu_epi16

#endif

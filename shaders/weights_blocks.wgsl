// Byte access to GGML blocks uploaded as they are in the file (src/gpu/forward.rs: the tensor's bytes
// as u32 words, padded with at least 4 zero bytes). `w` is declared by the generated contract as
// array<u32>. WGSL has no u8 and no f16-from-bits on every adapter: bytes come out by shifts and masks,
// f16 scales through unpack2x16float (exact), bf16 as bits << 16. Put before one weights_<type>.wgsl,
// which defines `wload4(i)` (elements i .. i+3 of one row, i a multiple of 4) and `wload(i)`.

// The 4 bytes at byte offset b (any alignment), little-endian.
fn wword(b: u32) -> u32 {
    let s = (b & 3u) * 8u;
    let lo = w[b >> 2u];
    if (s == 0u) {
        return lo;
    }
    return (lo >> s) | (w[(b >> 2u) + 1u] << (32u - s));
}

// Byte at offset b.
fn wbyte(b: u32) -> u32 {
    return (w[b >> 2u] >> ((b & 3u) * 8u)) & 0xffu;
}

// The f16 at byte offset b (even).
fn wf16(b: u32) -> f32 {
    return unpack2x16float(w[b >> 2u])[(b >> 1u) & 1u];
}

// The 4 bytes of a word as unsigned values.
fn bytes4(q: u32) -> vec4<f32> {
    return vec4<f32>(f32(q & 0xffu), f32((q >> 8u) & 0xffu), f32((q >> 16u) & 0xffu), f32(q >> 24u));
}

// The 4 bytes of a word as signed values.
fn ibytes4(q: u32) -> vec4<f32> {
    let s = bitcast<i32>(q);
    return vec4<f32>(
        f32(extractBits(s, 0u, 8u)),
        f32(extractBits(s, 8u, 8u)),
        f32(extractBits(s, 16u, 8u)),
        f32(extractBits(s, 24u, 8u)),
    );
}

fn wload(i: u32) -> f32 {
    return wload4(i & ~3u)[i & 3u];
}

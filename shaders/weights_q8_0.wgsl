// Q8_0, 32 elements in 34 bytes: { f16 d; i8 qs[32]; }, y = d · q (src/model/gguf/quants.rs).
fn wload4(i: u32) -> vec4<f32> {
    let base = (i / 32u) * 34u;
    return ibytes4(wword(base + 2u + i % 32u)) * wf16(base);
}

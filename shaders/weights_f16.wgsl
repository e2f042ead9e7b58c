// Weight storage, f16 (`--dtype f16`, needs SHADER_F16): half the bytes, every product and sum in f32.
// `w` is declared by the generated contract (src/gpu/contract.rs) as array<f16>.
enable f16;

fn wload(i: u32) -> f32 {
    return f32(w[i]);
}

fn wload4(i: u32) -> vec4<f32> {
    return vec4<f32>(vec4<f16>(w[i], w[i + 1u], w[i + 2u], w[i + 3u]));
}

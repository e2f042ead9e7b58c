// Weight storage, f16 (`--dtype f16`, needs SHADER_F16): half the bytes, every product and sum in f32.
enable f16;

@group(0) @binding(2) var<storage, read> w: array<f16>;

fn wload(i: u32) -> f32 {
    return f32(w[i]);
}

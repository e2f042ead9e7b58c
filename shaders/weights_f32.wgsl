// Weight storage, f32 (the default). Put in front of the kernels that read weights (matmul, embedding,
// lm-head): they call `wload(i)` for element i of the bound weight chunk `w` (declared by the
// generated contract, src/gpu/contract.rs, as array<f32>), and the matmul core `wload4(i)` for
// elements i .. i+3 of one row.

fn wload(i: u32) -> f32 {
    return w[i];
}

fn wload4(i: u32) -> vec4<f32> {
    return vec4<f32>(w[i], w[i + 1u], w[i + 2u], w[i + 3u]);
}

// Weight storage, f32 (the default). Put in front of the kernels that read weights (matmul, embedding,
// lm-head): they call `wload(i)` for element i of the bound weight chunk `w` (declared by the
// generated contract, src/gpu/contract.rs, as array<f32>).

fn wload(i: u32) -> f32 {
    return w[i];
}

// Weight storage, f32 (the default). Prepended to the kernels that read weights (matmul, embedding,
// lm-head): they call `wload(i)` for element i of the bound weight chunk.
@group(0) @binding(2) var<storage, read> w: array<f32>;

fn wload(i: u32) -> f32 {
    return w[i];
}

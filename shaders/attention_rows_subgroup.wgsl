// attention.wgsl's row reductions with subgroup shuffles (a device with Features::SUBGROUP).
// The TPR threads of a row are consecutive invocations, so in a subgroup of any size that is a
// multiple of TPR (the host checks the adapter's smallest subgroup size) they are the lanes that differ
// only in their low log2(TPR) bits: a butterfly over xor masks TPR/2, …, 1 reduces them, no barrier.

fn row_max(lid: u32, v: f32) -> f32 {
    var x = v;
    for (var mask = TPR / 2u; mask > 0u; mask /= 2u) {
        x = max(x, subgroupShuffleXor(x, mask));
    }
    return x;
}

fn row_sum(lid: u32, v: f32) -> f32 {
    var x = v;
    for (var mask = TPR / 2u; mask > 0u; mask /= 2u) {
        x += subgroupShuffleXor(x, mask);
    }
    return x;
}

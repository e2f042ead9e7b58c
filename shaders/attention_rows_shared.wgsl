// attention.wgsl's row reductions through workgroup memory (adapters without subgroups): each thread
// writes its partial, and every thread of a row reads the row's TPR partials in the same order, so all
// of them get the same value. Two barriers per reduction.

var<workgroup> red: array<f32, WG>;

fn row_max(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    let base = lid / TPR * TPR;
    var x = red[base];
    for (var k = 1u; k < TPR; k++) {
        x = max(x, red[base + k]);
    }
    workgroupBarrier();
    return x;
}

fn row_sum(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    let base = lid / TPR * TPR;
    var x = red[base];
    for (var k = 1u; k < TPR; k++) {
        x += red[base + k];
    }
    workgroupBarrier();
    return x;
}

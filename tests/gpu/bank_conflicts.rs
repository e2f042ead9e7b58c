//! The matmul core's shared-memory layout has no bank conflicts: every shared access of
//! shaders/mm_core.wgsl (the tile stores of `mm_stash`, the reads of `mm_multiply`) for every tile
//! shape of the contract, with the addresses each 32-lane warp touches computed from the same
//! constants and slot function (`contract::mm_slot`, generated into the WGSL) the shader uses.
//!
//! Bank model (NVIDIA, also AMD LDS): 32 banks of 4 bytes. A 16-byte (vec4) access is served in
//! four phases of 8 consecutive lanes; within a phase, lanes reading the same address share it
//! (broadcast), and distinct addresses conflict when they fall in the same 16-byte bank group
//! (vec4 slot mod 8). The degree of an access is the largest number of distinct addresses one
//! bank group serves in one phase; 1 = conflict-free.

use densi::gpu::contract::{LM_TILES, MM_BK, MM_TILES, MM_TN, MM_TX, MM_WOFF, MmShape, mm_slot};

const WARP: u32 = 32;
const LANES_PER_PHASE: u32 = 8;
const GROUPS: u32 = 8;

/// Worst degree over the phases of one warp-wide vec4 access (`slot(lane)`: the vec4 index).
fn degree(slots: &[u32]) -> usize {
    slots
        .chunks(LANES_PER_PHASE as usize)
        .map(|phase| {
            let mut distinct: Vec<u32> = phase.to_vec();
            distinct.sort();
            distinct.dedup();
            (0..GROUPS).map(|g| distinct.iter().filter(|&&s| s % GROUPS == g).count()).max().unwrap_or(0)
        })
        .max()
        .unwrap_or(0)
}

/// Every shared access of the core for tile shape `s`, per warp and step: (what, slots of the 32 lanes).
fn accesses(s: MmShape, slot: &dyn Fn(u32, u32) -> u32) -> Vec<(String, Vec<u32>)> {
    let nt = s.threads();
    let qs = MM_BK / 4;
    let mut out = Vec::new();
    for warp in 0..nt.div_ceil(WARP) {
        let lanes: Vec<u32> = (warp * WARP..((warp + 1) * WARP).min(nt)).collect();
        // mm_stash: load e = lid + i·nt → row e / qs, k-quad e % qs.
        for i in 0..s.x_loads() {
            let slots = lanes.iter().map(|&lid| slot((lid + i * nt) / qs, (lid + i * nt) % qs)).collect();
            out.push((format!("x tile store {i} warp {warp}"), slots));
        }
        for i in 0..s.w_loads() {
            let slots = lanes.iter().map(|&lid| MM_WOFF + slot((lid + i * nt) / qs, (lid + i * nt) % qs)).collect();
            out.push((format!("W tile store {i} warp {warp}"), slots));
        }
        // mm_multiply: per k-quad, W rows tx + MM_TX·j and x rows ty + TY·i.
        for kq in 0..qs {
            for j in 0..MM_TN {
                let slots = lanes.iter().map(|&lid| MM_WOFF + slot(lid % MM_TX + MM_TX * j, kq)).collect();
                out.push((format!("W read j={j} kq={kq} warp {warp}"), slots));
            }
            for i in 0..s.tm {
                let slots = lanes.iter().map(|&lid| slot(lid / MM_TX + s.ty * i, kq)).collect();
                out.push((format!("x read i={i} kq={kq} warp {warp}"), slots));
            }
        }
    }
    out
}

#[test]
fn matmul_core_has_no_bank_conflicts() {
    for s in MM_TILES.iter().chain(&LM_TILES) {
        for (what, slots) in accesses(*s, &mm_slot) {
            let d = degree(&slots);
            assert_eq!(d, 1, "tile {s:?}: {what} is a {d}-way bank conflict (slots {slots:?})");
        }
    }
}

/// The check bites: the same tiles without the one-vec4 row padding (stride MM_BK) conflict.
#[test]
fn unpadded_tiles_would_conflict() {
    let unpadded = |row: u32, kq: u32| row * (MM_BK / 4) + kq;
    for s in MM_TILES.iter().chain(&LM_TILES) {
        let worst = accesses(*s, &unpadded).iter().map(|(_, slots)| degree(slots)).max().unwrap();
        assert!(worst >= 8, "tile {s:?}: unpadded worst degree {worst}, expected an 8-way conflict");
    }
}

//! The fused reduction over two lm-heads: for one position, the logit rows of model A and model B
//! (same vocabulary) are read together, once, and reduced online with max-rescaling (as
//! [`crate::metrics::LogitSums`] does for one model) to both models' log-normalizers, entropies,
//! the target's log-probability and rank under each, KL both ways and the cross-entropy of A
//! against B. Natural units (nats) here; [`super`] converts to bits.
//!
//! For model X with logits x and the other model's logits y (shift m = the running max of x):
//!   S₀ = Σ e^(x−m),  S₁ = Σ e^(x−m)(x−m),  D = Σ e^(x−m)(x − y)
//!   ln Z_X = m + ln S₀,  H(P_X) = ln S₀ − S₁/S₀,
//!   KL(P_X ‖ P_Y) = Σ p_X (ln p_X − ln p_Y) = Σ p_X (x − y) − (ln Z_X − ln Z_Y) = D/S₀ − (ln Z_X − ln Z_Y),
//!   CE(P_X, P_Y) = −Σ p_X ln p_Y = H(P_X) + KL(P_X ‖ P_Y).
//! D multiplies only by e^(x−m), so re-centring on a larger max scales it like S₀.

use crate::metrics::TopK;

/// Vocabulary ids per block of the online pass: both rows' blocks are hot in cache together.
const BLOCK: usize = 2048;

/// One model's running sums over a vocabulary block, shifted by its running max (module doc).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SideSums {
    /// The largest logit seen (the shift m).
    pub max: f64,
    /// S₀ = Σ e^(x−m).
    pub s0: f64,
    /// S₁ = Σ e^(x−m)(x−m).
    pub s1: f64,
    /// D = Σ e^(x−m)(x − y), y the other model's logit of the same id.
    pub d: f64,
}

impl SideSums {
    /// Sums over nothing.
    pub const EMPTY: SideSums = SideSums { max: f64::NEG_INFINITY, s0: 0.0, s1: 0.0, d: 0.0 };

    /// Sums over one block: `x` this model's logits, `y` the other's, same ids.
    pub fn of_block(x: &[f32], y: &[f32]) -> SideSums {
        let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let (mut s0, mut s1, mut d) = (0.0f64, 0.0f64, 0.0f64);
        for (&xi, &yi) in x.iter().zip(y) {
            // f64 throughout: KL of two close models is a small difference of large terms.
            let c = xi as f64 - max;
            let e = c.exp();
            s0 += e;
            s1 += e * c;
            d += e * (xi as f64 - yi as f64);
        }
        SideSums { max, s0, s1, d }
    }

    /// Combines two disjoint blocks: with c = m' − m (≤ 0 for the side moved) and r = e^c,
    /// S₀ = r S₀', S₁ = r (S₁' + c S₀'), D = r D'.
    pub fn merge(self, other: SideSums) -> SideSums {
        if other.s0 == 0.0 {
            return self;
        }
        if self.s0 == 0.0 {
            return other;
        }
        let m = self.max.max(other.max);
        let shift = |s: SideSums| {
            let c = s.max - m;
            let r = c.exp();
            (r * s.s0, r * (s.s1 + c * s.s0), r * s.d)
        };
        let (a0, a1, ad) = shift(self);
        let (b0, b1, bd) = shift(other);
        SideSums { max: m, s0: a0 + b0, s1: a1 + b1, d: ad + bd }
    }

    /// ln Σ e^x, nats.
    pub fn log_normalizer(&self) -> f64 {
        self.max + self.s0.ln()
    }

    /// H(P_X), nats.
    pub fn entropy(&self) -> f64 {
        self.s0.ln() - self.s1 / self.s0
    }

    /// KL(P_X ‖ P_Y), nats, given ln Z_Y; clamped at 0 against rounding (it is ≥ 0).
    pub fn kl(&self, other_log_normalizer: f64) -> f64 {
        (self.d / self.s0 - (self.log_normalizer() - other_log_normalizer)).max(0.0)
    }
}

/// Both models' sums over the same vocabulary blocks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairSums {
    /// Model A (y = B's logits).
    pub a: SideSums,
    /// Model B (y = A's logits).
    pub b: SideSums,
}

impl PairSums {
    /// Sums over nothing.
    pub const EMPTY: PairSums = PairSums { a: SideSums::EMPTY, b: SideSums::EMPTY };

    /// Sums over one block of both rows (same ids).
    pub fn of_block(za: &[f32], zb: &[f32]) -> PairSums {
        PairSums { a: SideSums::of_block(za, zb), b: SideSums::of_block(zb, za) }
    }

    /// Combines two disjoint blocks.
    pub fn merge(self, other: PairSums) -> PairSums {
        PairSums { a: self.a.merge(other.a), b: self.b.merge(other.b) }
    }
}

/// One model's statistics at one position, natural units.
#[derive(Debug, Clone, PartialEq)]
pub struct SideStats {
    /// ln p(target); NaN without a target.
    pub target_logprob: f64,
    /// Entropy, nats.
    pub entropy: f64,
    /// 1 + #{v : z_v > z_target}; 0 without a target.
    pub rank: u32,
    /// The model's most probable id (ties: the lower id).
    pub argmax: u32,
    /// (id, probability), most probable first.
    pub top: Vec<(u32, f64)>,
}

/// Both models' statistics at one position and the divergences between them, natural units.
#[derive(Debug, Clone, PartialEq)]
pub struct PairRowStats {
    /// Model A.
    pub a: SideStats,
    /// Model B.
    pub b: SideStats,
    /// KL(P_A ‖ P_B) = Σ p_A ln(p_A / p_B), nats.
    pub kl_ab: f64,
    /// KL(P_B ‖ P_A), nats.
    pub kl_ba: f64,
    /// −Σ p_A ln p_B = H(P_A) + KL(P_A ‖ P_B), nats.
    pub cross_entropy_ab: f64,
}

/// Reduces the two logit rows of one position (A's and B's, same vocabulary) in one online pass
/// over vocabulary blocks. `target`: the token that came next (None: no target).
pub fn reduce_pair_row(za: &[f32], zb: &[f32], target: Option<u32>, top_k: usize) -> PairRowStats {
    assert_eq!(za.len(), zb.len(), "two logit rows over one vocabulary");
    let mut sums = PairSums::EMPTY;
    let (ta, tb) = (target.map(|t| za[t as usize]), target.map(|t| zb[t as usize]));
    let (mut above_a, mut above_b) = (0u32, 0u32);
    let (mut top_a, mut top_b) = (TopK::new(top_k.max(1)), TopK::new(top_k.max(1)));
    for (blk, (ba, bb)) in za.chunks(BLOCK).zip(zb.chunks(BLOCK)).enumerate() {
        sums = sums.merge(PairSums::of_block(ba, bb));
        let v0 = (blk * BLOCK) as u32;
        for (i, (&x, &y)) in ba.iter().zip(bb).enumerate() {
            above_a += ta.is_some_and(|t| x > t) as u32;
            above_b += tb.is_some_and(|t| y > t) as u32;
            top_a.push(x, v0 + i as u32);
            top_b.push(y, v0 + i as u32);
        }
    }
    pair_row_stats(&sums, [ta, tb], [above_a, above_b], [top_a.items(), top_b.items()], top_k)
}

/// The statistics of one position from its reduced parts (both backends' final step, in f64):
/// both sides' sums, target logits (None: no target), counts of logits above the target, and
/// top lists (logit, id), best first (at least one entry: the argmax).
pub fn pair_row_stats(
    sums: &PairSums,
    targets: [Option<f32>; 2],
    above: [u32; 2],
    tops: [&[(f32, u32)]; 2],
    top_k: usize,
) -> PairRowStats {
    let (lz_a, lz_b) = (sums.a.log_normalizer(), sums.b.log_normalizer());
    let side = |s: &SideSums, t: Option<f32>, above: u32, top: &[(f32, u32)], lz: f64| SideStats {
        target_logprob: t.map_or(f64::NAN, |z| z as f64 - lz),
        entropy: s.entropy(),
        rank: if t.is_some() { above + 1 } else { 0 },
        argmax: top[0].1,
        top: top.iter().take(top_k).map(|&(z, id)| (id, (z as f64 - lz).exp())).collect(),
    };
    let kl_ab = sums.a.kl(lz_b);
    PairRowStats {
        a: side(&sums.a, targets[0], above[0], tops[0], lz_a),
        b: side(&sums.b, targets[1], above[1], tops[1], lz_b),
        kl_ab,
        kl_ba: sums.b.kl(lz_a),
        cross_entropy_ab: sums.a.entropy() + kl_ab,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::SplitMix64;

    /// The direct two-pass formulas in f64: log-softmax of each row, then the sums.
    fn direct(za: &[f32], zb: &[f32], target: usize) -> [f64; 7] {
        let lsm = |z: &[f32]| {
            let m = z.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b as f64));
            let lse = m + z.iter().map(|&x| (x as f64 - m).exp()).sum::<f64>().ln();
            z.iter().map(|&x| x as f64 - lse).collect::<Vec<f64>>()
        };
        let (la, lb) = (lsm(za), lsm(zb));
        let h = |l: &[f64]| -l.iter().map(|x| x.exp() * x).sum::<f64>();
        let kl = |l: &[f64], m: &[f64]| l.iter().zip(m).map(|(x, y)| x.exp() * (x - y)).sum::<f64>();
        let ce = -la.iter().zip(&lb).map(|(x, y)| x.exp() * y).sum::<f64>();
        [la[target], lb[target], h(&la), h(&lb), kl(&la, &lb), kl(&lb, &la), ce]
    }

    #[test]
    fn fused_pass_matches_the_direct_formulas() {
        let mut rng = SplitMix64::new(7);
        // Several blocks (5000 > 2 × BLOCK); a near-identical pair (KL ≈ 1e-5) and a distant one.
        for (scale, noise) in [(12.0f32, 0.01f32), (8.0, 3.0), (30.0, 0.5)] {
            let za = rng.vec(5000, scale);
            let zb: Vec<f32> = za.iter().map(|&x| x + rng.uniform() * noise).collect();
            for target in [0usize, 1234, 4999] {
                let r = reduce_pair_row(&za, &zb, Some(target as u32), 5);
                let d = direct(&za, &zb, target);
                let got = [
                    r.a.target_logprob,
                    r.b.target_logprob,
                    r.a.entropy,
                    r.b.entropy,
                    r.kl_ab,
                    r.kl_ba,
                    r.cross_entropy_ab,
                ];
                for (k, (g, w)) in got.iter().zip(d).enumerate() {
                    // Both sides in f64: they agree to rounding, relative to the size of the terms.
                    assert!(
                        (g - w).abs() <= 1e-9 * (1.0 + w.abs()),
                        "scale {scale} noise {noise} quantity {k}: {g} vs {w}"
                    );
                }
                let rank = |z: &[f32]| 1 + z.iter().filter(|&&x| x > z[target]).count() as u32;
                assert_eq!((r.a.rank, r.b.rank), (rank(&za), rank(&zb)));
                let argmax = |z: &[f32]| (0..z.len()).fold(0, |best, i| if z[i] > z[best] { i } else { best }) as u32;
                assert_eq!((r.a.argmax, r.b.argmax), (argmax(&za), argmax(&zb)));
                assert_eq!(r.a.top[0].0, r.a.argmax);
                assert_eq!(r.a.top.len(), 5);
            }
        }
    }

    #[test]
    fn identical_rows_have_zero_divergence() {
        let mut rng = SplitMix64::new(3);
        let z = rng.vec(3000, 10.0);
        let r = reduce_pair_row(&z, &z, None, 0);
        assert_eq!((r.kl_ab, r.kl_ba), (0.0, 0.0));
        assert!((r.cross_entropy_ab - r.a.entropy).abs() < 1e-12);
        assert!(r.a.target_logprob.is_nan() && r.a.rank == 0 && r.a.top.is_empty());
    }

    #[test]
    fn blockwise_merge_equals_one_block() {
        let mut rng = SplitMix64::new(11);
        let za = rng.vec(4096, 9.0);
        let zb = rng.vec(4096, 9.0);
        let whole = PairSums::of_block(&za, &zb);
        let merged =
            za.chunks(300).zip(zb.chunks(300)).fold(PairSums::EMPTY, |s, (a, b)| s.merge(PairSums::of_block(a, b)));
        for (w, m) in [(whole.a, merged.a), (whole.b, merged.b)] {
            assert!((w.log_normalizer() - m.log_normalizer()).abs() < 1e-12);
            assert!((w.entropy() - m.entropy()).abs() < 1e-12);
            assert!((w.d / w.s0 - m.d / m.s0).abs() < 1e-12);
        }
    }
}

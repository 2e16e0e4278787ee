//! Agglomerative clustering of embeddings: average linkage on cosine similarity.
//!
//! Every vector starts as its own cluster; the two clusters with the highest *average pairwise
//! cosine similarity* are merged, again and again, until the [`Stop`] rule says enough. Average
//! linkage is updated with the Lance–Williams formula `s(k, i∪j) = (nᵢ s(k,i) + nⱼ s(k,j)) /
//! (nᵢ + nⱼ)`, and each cluster remembers its most similar neighbour, so a run costs O(n²)
//! memory and about O(n²) time for n vectors (≈ 3,600 windows for an hour of speech at a 1 s step).
//!
//! Invariants: labels are `0..k` numbered in order of first appearance in the input; the result
//! is deterministic (ties merge the lower indices first); every input gets a label; an empty
//! input gives an empty output.

/// When merging stops.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    /// Merge while the best pair's similarity is at least this.
    Threshold(f32),
    /// Merge down to exactly this many clusters (fewer inputs: one cluster each).
    Count(usize),
    /// Merge while similarity is at least `threshold`, but never stop above `max` clusters and
    /// never merge below `min`.
    Bounded {
        /// The similarity threshold.
        threshold: f32,
        /// Fewest clusters.
        min: usize,
        /// Most clusters.
        max: usize,
    },
}

impl Stop {
    /// Whether to merge once more, with `clusters` clusters and the best pair at `best`.
    fn go_on(&self, clusters: usize, best: f32) -> bool {
        match *self {
            Stop::Threshold(t) => best >= t,
            Stop::Count(k) => clusters > k.max(1),
            Stop::Bounded { threshold, min, max } => {
                clusters > max.max(1) || (clusters > min.max(1) && best >= threshold)
            }
        }
    }
}

/// Cluster labels for `vectors` (any length, compared by cosine; zero vectors are similar to
/// nothing). See the module docs for the invariants.
pub fn agglomerative(vectors: &[Vec<f32>], stop: Stop) -> Vec<usize> {
    let n = vectors.len();
    if n == 0 {
        return Vec::new();
    }
    let unit: Vec<Vec<f32>> = vectors
        .iter()
        .map(|v| {
            let mut u = v.clone();
            if !crate::engine::speaker::l2_normalize(&mut u) {
                u.iter_mut().for_each(|x| *x = 0.0);
            }
            u
        })
        .collect();
    // Full similarity matrix (row-major, symmetric).
    let mut sim = vec![0f32; n * n];
    for i in 0..n {
        for j in i + 1..n {
            let s: f32 = unit[i].iter().zip(&unit[j]).map(|(a, b)| a * b).sum();
            sim[i * n + j] = s;
            sim[j * n + i] = s;
        }
    }
    let mut size = vec![1usize; n];
    let mut alive = vec![true; n];
    let mut parent: Vec<usize> = (0..n).collect();
    let best_of = |sim: &[f32], alive: &[bool], i: usize| -> (usize, f32) {
        let mut b = (usize::MAX, f32::NEG_INFINITY);
        for j in 0..n {
            if j != i && alive[j] && sim[i * n + j] > b.1 {
                b = (j, sim[i * n + j]);
            }
        }
        b
    };
    let mut nn: Vec<(usize, f32)> = (0..n).map(|i| best_of(&sim, &alive, i)).collect();
    let mut clusters = n;
    while clusters > 1 {
        // The best pair overall.
        let mut a = usize::MAX;
        let mut best = f32::NEG_INFINITY;
        for i in 0..n {
            if alive[i] && nn[i].0 != usize::MAX && nn[i].1 > best {
                a = i;
                best = nn[i].1;
            }
        }
        if a == usize::MAX || !stop.go_on(clusters, best) {
            break;
        }
        let b = nn[a].0;
        let (keep, gone) = (a.min(b), a.max(b));
        let (nk, ng) = (size[keep] as f32, size[gone] as f32);
        for k in 0..n {
            if alive[k] && k != keep && k != gone {
                let s = (nk * sim[keep * n + k] + ng * sim[gone * n + k]) / (nk + ng);
                sim[keep * n + k] = s;
                sim[k * n + keep] = s;
            }
        }
        alive[gone] = false;
        size[keep] += size[gone];
        parent[gone] = keep;
        clusters -= 1;
        // Refresh the neighbours that pointed at either half, and the merged cluster's.
        for k in 0..n {
            if !alive[k] {
                continue;
            }
            if k == keep || nn[k].0 == keep || nn[k].0 == gone {
                nn[k] = best_of(&sim, &alive, k);
            } else if sim[k * n + keep] > nn[k].1 {
                nn[k] = (keep, sim[k * n + keep]);
            }
        }
    }
    // Each input's root, renumbered by first appearance.
    let root = |mut i: usize| {
        while parent[i] != i {
            i = parent[i];
        }
        i
    };
    let roots: Vec<usize> = (0..n).map(root).collect();
    relabel(&roots)
}

/// Renumbers arbitrary labels to `0..k` in order of first appearance.
pub fn relabel(labels: &[usize]) -> Vec<usize> {
    let mut order: Vec<usize> = Vec::new();
    labels
        .iter()
        .map(|l| match order.iter().position(|o| o == l) {
            Some(p) => p,
            None => {
                order.push(*l);
                order.len() - 1
            }
        })
        .collect()
}

/// The L2-normalised mean of each cluster's vectors (`k = max label + 1` centroids).
pub fn centroids(vectors: &[Vec<f32>], labels: &[usize]) -> Vec<Vec<f32>> {
    let k = labels.iter().max().map_or(0, |m| m + 1);
    let dim = vectors.first().map_or(0, |v| v.len());
    let mut c = vec![vec![0f32; dim]; k];
    for (v, &l) in vectors.iter().zip(labels) {
        for (s, x) in c[l].iter_mut().zip(v) {
            *s += x;
        }
    }
    for v in c.iter_mut() {
        crate::engine::speaker::l2_normalize(v);
    }
    c
}

/// The index of the centroid most similar to `v`, and that similarity (None without centroids).
pub fn nearest(centroids: &[Vec<f32>], v: &[f32]) -> Option<(usize, f32)> {
    centroids
        .iter()
        .enumerate()
        .map(|(i, c)| (i, crate::engine::speaker::cosine(c, v)))
        .fold(None, |best: Option<(usize, f32)>, (i, s)| match best {
            Some((_, bs)) if bs >= s => best,
            _ => Some((i, s)),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three tight groups around orthogonal directions, interleaved in time.
    fn groups() -> (Vec<Vec<f32>>, Vec<usize>) {
        let dirs = [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]];
        let mut v = Vec::new();
        let mut truth = Vec::new();
        for i in 0..12usize {
            let g = [0, 1, 0, 2, 1, 2, 0, 0, 1, 2, 2, 1][i];
            let mut x = dirs[g].to_vec();
            x[3] = 0.1 * (i as f32 % 3.0);
            x[(g + 1) % 3] += 0.05 * (i % 2) as f32;
            v.push(x);
            truth.push(g);
        }
        (v, truth)
    }

    #[test]
    fn threshold_recovers_the_groups() {
        let (v, truth) = groups();
        let l = agglomerative(&v, Stop::Threshold(0.8));
        // same partition as the truth, labelled by first appearance
        assert_eq!(l, relabel(&truth));
        // a threshold above every similarity keeps everything apart; below all merges all
        let apart = agglomerative(&v, Stop::Threshold(1.01));
        assert_eq!(apart, (0..12).collect::<Vec<_>>());
        assert!(agglomerative(&v, Stop::Threshold(-1.0)).iter().all(|&x| x == 0));
    }

    #[test]
    fn exact_count_and_bounds() {
        let (v, truth) = groups();
        assert_eq!(agglomerative(&v, Stop::Count(3)), relabel(&truth));
        let two = agglomerative(&v, Stop::Count(2));
        assert_eq!(two.iter().max(), Some(&1));
        assert_eq!(agglomerative(&v, Stop::Count(1)), vec![0; 12]);
        assert_eq!(agglomerative(&v, Stop::Count(40)), (0..12).collect::<Vec<_>>());
        // the threshold alone would give 3; max 2 forces one more merge, min 5 stops early
        let b = agglomerative(
            &v,
            Stop::Bounded {
                threshold: 0.8,
                min: 1,
                max: 2,
            },
        );
        assert_eq!(b.iter().max(), Some(&1));
        let b = agglomerative(
            &v,
            Stop::Bounded {
                threshold: 0.8,
                min: 5,
                max: 8,
            },
        );
        assert_eq!(b.iter().max(), Some(&4));
        let b = agglomerative(
            &v,
            Stop::Bounded {
                threshold: 0.8,
                min: 2,
                max: 4,
            },
        );
        assert_eq!(b, relabel(&truth));
    }

    #[test]
    fn degenerate_inputs() {
        assert!(agglomerative(&[], Stop::Threshold(0.5)).is_empty());
        assert_eq!(agglomerative(&[vec![1.0, 0.0]], Stop::Count(3)), vec![0]);
        // zero vectors never attract anything under a positive threshold
        let l = agglomerative(&[vec![0.0, 0.0], vec![1.0, 0.0], vec![0.0, 0.0]], Stop::Threshold(0.5));
        assert_eq!(l, vec![0, 1, 2]);
    }

    #[test]
    fn average_linkage_not_single_linkage() {
        // a chain a-b-c where a~b and b~c are close but a and c are far: average linkage
        // at 0.75 merges one pair, not the chain
        let a = vec![1.0, 0.0];
        let b = vec![0.8f32.cos(), 0.8f32.sin()];
        let c = vec![1.6f32.cos(), 1.6f32.sin()];
        let l = agglomerative(&[a, b, c], Stop::Threshold(0.6));
        assert_eq!(l.iter().max(), Some(&1), "{l:?}");
    }

    #[test]
    fn centroids_and_nearest() {
        let (v, truth) = groups();
        let c = centroids(&v, &relabel(&truth));
        assert_eq!(c.len(), 3);
        assert_eq!(nearest(&c, &[0.0, 0.0, 1.0, 0.0]).map(|x| x.0), Some(2));
        assert_eq!(nearest(&[], &[1.0]), None);
    }
}

"""The synthetic catalog and the distributions it draws sizes from."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cdn.catalog import BLOCK, Catalog, InverseCdf, default_content, media_type
from cdn.distributions import DISTRIBUTIONS, Sampler, mean, parse_distribution, sample
from cdn.scenario import ContentType, Distribution, Workload
from cdn.units import parse_duration, parse_size


def chi2_critical(df: int, z: float = 3.09) -> float:
    """Wilson-Hilferty upper quantile of chi-square (z=3.09: about 99.9%)."""
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


def chi2(observed: np.ndarray, expected: np.ndarray) -> float:
    return float(((observed - expected) ** 2 / expected).sum())


MIX = (
    ContentType("html", 0.2, Distribution("fixed", 1000), "max-age=60", ".html"),
    ContentType("image", 0.5, Distribution("lognormal", 50_000, sigma=0.8), "max-age=600"),
    ContentType("video", 0.3, Distribution("pareto", 1e6, shape=1.5), "max-age=86400", ".mp4"),
)


@pytest.mark.parametrize("alpha", [0.0, 0.8, 1.2])
def test_zipf_draws_match_expected_frequencies(alpha):
    n, draws = 1000, 400_000
    cat = Catalog(Workload(catalog_size=n, zipf_alpha=alpha), seed=3)
    ids = cat.draw(np.random.default_rng(11), draws)
    assert ids.min() >= 0 and ids.max() < n
    # independent reference: the Zipf law written out, not the catalog's own array
    ranks = np.arange(1, n + 1, dtype=float)
    p = ranks**-alpha / (ranks**-alpha).sum()
    counts = np.bincount(ids, minlength=n)
    # bins: the 50 most popular ids one by one, the rest pooled in groups of
    # equal expected mass (at least 200 expected draws each)
    expected = p * draws
    head = 50
    obs_bins, exp_bins = list(counts[:head]), list(expected[:head])
    acc_o = acc_e = 0.0
    for o, e in zip(counts[head:], expected[head:], strict=True):
        acc_o, acc_e = acc_o + o, acc_e + e
        if acc_e >= 200:
            obs_bins.append(acc_o)
            exp_bins.append(acc_e)
            acc_o = acc_e = 0.0
    obs_bins[-1] += acc_o
    exp_bins[-1] += acc_e
    stat = chi2(np.array(obs_bins), np.array(exp_bins))
    assert stat < chi2_critical(len(obs_bins) - 1), (stat, len(obs_bins))
    assert np.allclose(cat.weights, p) and cat.popularity(0) == cat.weights[0]
    # id 0 is the most popular when alpha > 0
    if alpha > 0:
        assert counts.argmax() == 0


def test_catalog_is_deterministic_by_seed():
    w = Workload(catalog_size=5000, content=MIX)
    a, b, c = Catalog(w, seed=7), Catalog(w, seed=7), Catalog(w, seed=8)
    assert np.array_equal(a.sizes, b.sizes) and np.array_equal(a.type_index, b.type_index)
    assert not np.array_equal(a.sizes, c.sizes)
    assert a.body_chunk(3, 0, 5000) == b.body_chunk(3, 0, 5000)
    assert a.body_chunk(3, 0, 64) != c.body_chunk(3, 0, 64)
    assert np.array_equal(
        a.draw(np.random.default_rng(1), 100), b.draw(np.random.default_rng(1), 100)
    )
    assert a.sizes.dtype == np.int64 and a.type_index.dtype == np.int16


def test_types_follow_shares_and_sizes_follow_their_distribution():
    n = 20_000
    cat = Catalog(Workload(catalog_size=n, content=MIX), seed=5)
    counts = np.bincount(cat.type_index, minlength=3)
    expected = np.array([c.share for c in MIX]) * n
    assert chi2(counts, expected) < chi2_critical(2)
    html = cat.sizes[cat.type_index == 0]
    assert (html == 1000).all()
    image = cat.sizes[cat.type_index == 1]
    # median of a lognormal is its `value`; standard error of the median ~ 1.25 s/sqrt(n)
    assert abs(np.median(np.log(image)) - math.log(50_000)) < 5 * 1.2533 * 0.8 / math.sqrt(
        len(image)
    )
    video = cat.sizes[cat.type_index == 2]
    assert video.min() >= 1e6
    assert abs(np.median(video) / (1e6 * 2 ** (1 / 1.5)) - 1) < 0.05  # Pareto median
    assert cat.content_type(int(np.flatnonzero(cat.type_index == 2)[0])).name == "video"
    assert cat.cache_control(int(np.flatnonzero(cat.type_index == 0)[0])) == "max-age=60"


def test_paths_and_ids_round_trip():
    cat = Catalog(Workload(catalog_size=50), seed=0)
    for i in (0, 1, 49):
        assert cat.object_id(cat.path(i)) == i
    for bad in ("/obj/50", "/obj/-1", "/obj/01", "/obj/", "/obj/1.jpg", "/x/1", "/obj/١"):
        assert cat.object_id(bad) is None, bad
    assert cat.content == default_content()


def test_body_chunks_compose_across_blocks():
    w = Workload(
        catalog_size=3, content=(ContentType("big", 1, Distribution("fixed", 3 * BLOCK + 17)),)
    )
    cat = Catalog(w, seed=9)
    size = cat.size(1)
    assert size == 3 * BLOCK + 17
    whole = cat.body_chunk(1, 0, size)
    assert len(whole) == size
    for a, b in [(0, 1), (BLOCK - 3, BLOCK + 3), (5, 2 * BLOCK + 100), (size - 10, size + 50)]:
        assert cat.body_chunk(1, a, b) == whole[a : min(b, size)]
    assert cat.body_chunk(1, size, size + 5) == b""
    assert cat.body_chunk(0, 0, 100) != cat.body_chunk(1, 0, 100)
    assert cat.etag(1) != cat.etag(0) and cat.etag(1).startswith('"')


def test_media_types():
    assert media_type(ContentType("x", 1, Distribution(), extension=".css")).startswith("text/css")
    assert media_type(ContentType("image", 1, Distribution())) == "image/jpeg"
    assert media_type(ContentType("odd", 1, Distribution())) == "application/octet-stream"


def test_bad_workloads_are_refused():
    with pytest.raises(ValueError, match="catalog_size"):
        Catalog(Workload(catalog_size=0), seed=0)
    with pytest.raises(ValueError, match="zipf_alpha"):
        Catalog(Workload(zipf_alpha=-1), seed=0)
    with pytest.raises(ValueError, match="shares"):
        Catalog(Workload(content=(ContentType("a", 0, Distribution("fixed", 1)),)), seed=0)


def test_distributions_registry_and_clipping():
    rng = np.random.default_rng(0)
    assert set(DISTRIBUTIONS) >= {"fixed", "lognormal", "exponential", "pareto"}
    x = sample(Distribution("exponential", 2.0), rng, 200_000)
    assert abs(x.mean() - 2.0) < 0.03
    x = sample(Distribution("lognormal", 10.0, sigma=1.0, minimum=5, maximum=20), rng, 10_000)
    assert x.min() == 5 and x.max() == 20
    assert abs(np.median(x) - 10) < 0.5
    assert mean(Distribution("pareto", 1, shape=0.9)) == math.inf
    with pytest.raises(ValueError, match="allowed: fixed, lognormal"):
        sample(Distribution("gamma", 1.0), rng, 3)
    with pytest.raises(ValueError, match="shape must be > 0"):
        sample(Distribution("pareto", 1.0), rng, 3)


def test_parse_distribution():
    assert parse_distribution("5ms", parse_duration) == Distribution("fixed", 0.005)
    assert parse_distribution("fixed:2s", parse_duration) == Distribution("fixed", 2.0)
    d = parse_distribution("lognormal:5ms:0.5", parse_duration)
    assert (d.kind, d.value, d.sigma) == ("lognormal", 0.005, 0.5)
    assert parse_distribution("pareto:1KiB:1.2", parse_size) == Distribution(
        "pareto", 1024, shape=1.2
    )
    for bad, msg in [("weibull:1:2", "unknown distribution"), ("lognormal:5ms", "takes 2"),
                     ("5parsecs", "not a duration"), ("pareto:1ms:0", "shape must be > 0")]:  # fmt: skip
        with pytest.raises(ValueError, match=msg):
            parse_distribution(bad, parse_duration)


def test_sampler_draws_in_order_and_counts():
    d = Distribution("lognormal", 0.005, sigma=0.5)
    s1, s2 = Sampler(d, seed=4, batch=16), Sampler(d, seed=4, batch=1000)
    a = [s1() for _ in range(40)]
    b = [s2() for _ in range(40)]
    assert s1.drawn == 40
    # batch size does not change the values: same generator, same order
    assert a[:16] == b[:16]
    ref = sample(d, np.random.default_rng(4), 16).tolist()
    assert a[:16] == ref
    many = [s2() for _ in range(5000)]
    assert abs(np.median(many) - 0.005) < 0.0003


@pytest.mark.parametrize(
    ("n", "alpha", "bits"),
    [(100_000, 0.85, None), (100_000, 1.3, None), (100_000, 0.85, 6), (150, None, None),
     (3, None, None), (1, None, None), (5000, 0.0, 2)],
)  # fmt: skip
def test_inverse_cdf_is_searchsorted(n, alpha, bits):
    """The guide table gives exactly numpy's binary search (clipped to the last
    index), at the CDF's own values and their neighbours too."""
    rng = np.random.default_rng(n)
    if alpha is None:  # arbitrary weights; the sum may end a hair below 1
        w = rng.random(n) ** 4
        cdf = np.cumsum(w / w.sum())
    else:
        cdf = np.cumsum(np.arange(1, n + 1, dtype=float) ** -alpha)
        cdf /= cdf[-1]
    u = np.concatenate([
        rng.random(200_000), cdf[cdf < 1], np.nextafter(cdf[cdf < 1], 0),
        np.nextafter(cdf[cdf < 1], 1), [0.0, np.nextafter(1.0, 0)],
    ])  # fmt: skip
    u = u[u < 1]
    ref = np.minimum(np.searchsorted(cdf, u, side="right"), n - 1)
    got = InverseCdf(cdf, bits)(u)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, ref)

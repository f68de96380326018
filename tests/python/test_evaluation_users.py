"""Whom the ranking evaluation judges: every eligible user up to the cap, past it a seeded sample (both engines)."""

from __future__ import annotations

import numpy as np
import pytest

from cinemart.evaluation.users import evaluation_users
from cinemart.warehouse.ranking_tables import RankingSettings


def test_up_to_the_cap_every_eligible_user_is_judged():
    chosen = evaluation_users(np.array([7, 3, 3, 11]), max_users=3, seed=1)
    assert chosen.ids.tolist() == [3, 7, 11] and chosen.n_eligible == 3 and not chosen.is_sample


def test_past_the_cap_a_sample_depends_on_the_ids_and_seed_not_their_order():
    ids = np.arange(1, 5001) * 3
    chosen = evaluation_users(ids, max_users=400, seed=2020)
    assert chosen.is_sample and chosen.n_eligible == 5000 and chosen.ids.size == 400
    assert np.isin(chosen.ids, ids).all() and (np.diff(chosen.ids) > 0).all()
    shuffled = np.random.default_rng(0).permutation(ids)
    assert evaluation_users(shuffled, max_users=400, seed=2020).ids.tolist() == chosen.ids.tolist()
    assert evaluation_users(ids, max_users=400, seed=2021).ids.tolist() != chosen.ids.tolist()
    # spread over the whole id range, not the first 400
    assert chosen.ids.min() < ids[500] and chosen.ids.max() > ids[-500]


def test_the_cap_is_a_validated_var():
    assert RankingSettings.from_config({}).eval_max_users == 50_000
    with pytest.raises(ValueError, match="ranking_eval_max_users"):
        RankingSettings.from_config({"ranking_eval_max_users": 10})

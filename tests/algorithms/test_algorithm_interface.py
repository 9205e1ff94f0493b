"""PPO and SAC implement the :class:`~bikkle_rl.algorithms.Algorithm` protocol the training loop relies on."""

from small_arenas import small_env, small_ppo, small_sac

from bikkle_rl.algorithms import Algorithm


def test_ppo_and_sac_are_algorithms():
    env = small_env()
    ppo, sac = small_ppo(env), small_sac(env, init_random_frames=64)
    for algo in (ppo, sac):
        assert isinstance(algo, Algorithm)
        assert algo.collection_policy is algo.actor and "actor" in algo.state_dict()
    assert (ppo.init_random_frames, ppo.buffer) == (0, None)  # on-policy: no warm-up, no replay
    assert sac.init_random_frames == 64 and sac.buffer is not None


def test_an_object_missing_the_members_is_not_an_algorithm():
    assert not isinstance(object(), Algorithm)

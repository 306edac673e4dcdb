"""When the loop's periodic actions come due, and how long its groups of steps are."""

from deeplab_tf.training.periodic import is_due, steps_to_next_due


def test_an_action_is_due_at_its_multiples_and_at_the_last_step_never_when_off():
    assert [s for s in range(1, 11) if is_due(s, 4, 10)] == [4, 8, 10]
    assert not any(is_due(s, 0, 10) or is_due(s, None, 10) for s in range(1, 11))


def test_groups_end_at_the_next_due_step_the_last_step_or_after_steps_per_loop():
    # Checkpoints every 6, summaries every 4, evaluations off, 10 steps, at most 3 per group.
    periods, step, groups = (6, 4, None), 0, []
    while step < 10:
        count = steps_to_next_due(step, periods, 10, 3)
        step += count
        groups.append(step)
    assert groups == [3, 4, 6, 8, 10]

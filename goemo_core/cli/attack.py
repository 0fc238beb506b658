"""`attack`: TextAttack's recipes against runs, on the same seeded sample of test examples for every run of a task."""

from __future__ import annotations

from ..errors import InvalidConfig
from . import emit, log, terminal_safe


def register(commands, parent) -> None:
    attack = commands.add_parser(
        "attack", parents=[parent],
        help="attack runs with TextAttack's recipes (pwws, deepwordbug, pruthi) and record the figures in each run")
    attack.add_argument("run_ids", nargs="*", metavar="RUN", help="completed single-label runs")
    attack.add_argument("--runs", nargs="+", default=[], metavar="RUN", help="more runs (the same as naming them)")
    attack.add_argument("--recipe", nargs="+", required=True, metavar="R",
                        help="pwws, deepwordbug, pruthi, or all of them: 'all'")
    attack.add_argument("--n", type=int, help="test examples attacked (default 500)")
    attack.add_argument("--seed", type=int, help="the seed of the sample (default 211): the same for every run")
    attack.add_argument("--device", help="auto, cpu or cuda (default cpu)")
    attack.add_argument("--threads", type=int, help="torch threads while attacking (default 1)")
    attack.add_argument("--fresh", action="store_true",
                        help="attack again (default: keep a run's stored attack of the same sample)")
    attack.set_defaults(handler=run_attack)


def run_attack(args) -> int:
    from ..attacks.attack import DEFAULT_THREADS, attack_runs
    from ..attacks.recipes import RECIPE_NAMES, get_recipe
    from ..attacks.sample import DEFAULT_N, DEFAULT_SEED

    run_ids = [*args.run_ids, *args.runs]
    if not run_ids:
        raise InvalidConfig("attack: name at least one run (see `runs list`).")
    recipes = [name for given in args.recipe for name in (RECIPE_NAMES if given == "all" else [given])]
    for name in recipes:
        get_recipe(name)  # a recipe this machine cannot run is refused before any model is loaded
    for flag in ("n", "threads"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise InvalidConfig(f"--{flag}: {value} must be at least 1.")
    documents = attack_runs(run_ids, recipes, args.n or DEFAULT_N, DEFAULT_SEED if args.seed is None else args.seed,
                            args.device or "cpu", args.fresh, log=log, threads=args.threads or DEFAULT_THREADS)
    emit(args, documents[0] if len(documents) == 1 else {"attacks": documents}, lambda: attack_table(documents))
    return 0


def attack_table(documents: list[dict]) -> str:
    def number(value: float | None, suffix: str = "") -> str:
        return "-" if value is None else f"{value:.2f}{suffix}"

    lines = [f"{'run':<28} {'recipe':<12} {'n':>5} {'clean %':>8} {'attacked %':>10} {'success %':>9} "
             f"{'skipped':>7} {'words %':>8} {'queries':>8} {'per min':>8}"]
    for document in documents:
        figures = document["figures"]
        lines.append(f"{terminal_safe(document['run_id']):<28} {document['recipe']:<12} {figures['examples']:>5} "
                     f"{number(figures['original_accuracy']):>8} {number(figures['accuracy_under_attack']):>10} "
                     f"{number(figures['attack_success_rate']):>9} {figures['skipped']:>7} "
                     f"{number(figures['avg_perturbed_word_percent']):>8} {number(figures['avg_queries']):>8} "
                     f"{number(document.get('examples_per_minute')):>8}" + ("  (stored)" if document.get("reused")
                                                                           else ""))
    lines.append("clean: accuracy on the sample; attacked: accuracy under attack; words: perturbed-word percentage "
                 "of successful attacks (TextAttack's definitions)")
    return "\n".join(lines)

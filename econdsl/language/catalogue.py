"""The diagnostics catalogue: one entry per code, printed by ``econdsl explain CODE``.

Families: E1xx syntax and files, E2xx names, E3xx shapes and indices, E4xx timing, E5xx structure,
E6xx units, E7xx domains, W8xx economics, E9xx accounting, E10xx curriculum and training settings.
Codes starting with W are warnings: they are printed but do not fail ``econdsl check``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    code: str
    title: str
    explanation: str
    fix: str
    example: str = ""


def _entries(*items: Entry) -> dict[str, Entry]:
    return {e.code: e for e in items}


CATALOGUE: dict[str, Entry] = _entries(
    # ---------------------------------------------------------------- syntax and files
    Entry("E101", "unexpected character",
          "The lexer met a character that cannot start any token of the language.",
          "Remove the character or put it inside a comment (`# ...`)."),
    Entry("E102", "unexpected token",
          "The parser met a token where the grammar does not allow it.",
          "Compare the line with the examples in docs/language.md; the hint lists what was expected."),
    Entry("E100", "internal checker error",
          "The checker itself failed on this input. This is a bug in econdsl, not in the model.",
          "Please report it with the model file; the message names the failing stage."),
    Entry("E103", "block not closed",
          "The file ended, or a new section began, while a block (`model`, `agent`, `step`, "
          "`accounting`, `curriculum`, `train`, `preset`) was still open.",
          "Close every `model`, `agent`, `step`, `accounting`, `curriculum`, `train` and `preset` "
          "block with `end`, and every bracket."),
    Entry("E104", "cannot read imported file",
          "An `import \"file.econ\"` names a file that does not exist, cannot be read, or imports itself.",
          "Give the path relative to the importing file, and break import cycles."),
    Entry("E105", "malformed literal",
          "A number, unit or literal is not well formed (for example a unit exponent that is not an "
          "integer).",
          "Write units as products of base units with integer powers, e.g. `money/goods` or `hours^-1`."),
    Entry("E106", "unclosed or mismatched bracket",
          "A `(`, `[` or `{` is never closed, or is closed by the wrong kind of bracket. Newlines inside "
          "brackets continue the line, so an unclosed bracket swallows the lines after it; errors after "
          "it are not reported.",
          "Close the bracket on its line."),
    Entry("E107", "`=` and `==` confused",
          "`=` defines a name (`const k = 3`, `x[i] = ...`); `==` compares two values inside an expression "
          "(`ifelse(a == 1, ...)`).",
          "Use `=` after the name being defined and `==` inside expressions."),
    Entry("E108", "expression nested too deeply",
          "An expression nests deeper than 150 levels of the syntax tree (each bracketed operand, operator or "
          "function call adds one or two; the models in models/ reach 16). Every stage after the parser "
          "recurses on the nesting, so the limit is fixed rather than left to Python's stack.",
          "Split the expression into several step quantities."),
    Entry("E120", "`..` written for a range",
          "econdsl writes ranges the way Julia does, with colons: `lo:hi` (whole numbers) and `lo:step:hi`; "
          "`lo..hi` is not a range.",
          "Write `0:1` for the whole numbers 0 and 1, `0:0.1:1` for 0 to 1 in steps of 0.1, or `[0, 1]` for "
          "every real number in between (a continuous action)."),
    Entry("E109", "size above a limit of econdsl",
          "A horizon (at most 1,000,000 steps), a population (at most 1,000,000 members) or an action grid (at "
          "most 100,000 choices, also for the product of a multi-component action) is larger than econdsl "
          "simulates: such a size is nearly always a typo, and it would exhaust the memory.",
          "Check the number; use a coarser grid, a smaller population, or several episodes (`steps`)."),
    # ---------------------------------------------------------------- names
    Entry("E201", "undeclared name",
          "A name is used that is not a constant, parameter, state, action, step quantity, function, "
          "population or index in scope.",
          "Declare it, or fix the spelling (the hint suggests the closest declared name)."),
    Entry("E202", "duplicate declaration",
          "Two declarations (or two step equations) define the same name, or two populations (or one "
          "population twice, `index j, j`) use the same index name.",
          "Rename one of them, or use `replace` in a variant to redefine a name of the base model."),
    Entry("E203", "name shadows a declaration",
          "An index variable, function parameter or reduction variable has the name of a declared "
          "quantity, which would make the quantity unreachable inside it.",
          "Choose another name for the index or parameter."),
    Entry("E204", "unknown population",
          "A reduction, action or index refers to a population (agent type) that is not declared.",
          "Use the name of an `agent` block."),
    Entry("E205", "unknown base or variant target",
          "`extends`, `set`, `replace` or `remove` names a model or declaration that does not exist.",
          "Import the base model's file and name a declaration that it has."),
    Entry("E206", "wrong kind of name",
          "A name is used in a way its kind does not allow: indexing a scalar, calling a quantity, "
          "setting a state, assigning an action in the step section, `onehot(j)` inside a formula (it is a "
          "block of observation columns, observed on its own), and so on.",
          "Check what the name is declared as."),
    Entry("E207", "unknown function or wrong number of arguments",
          "A call names neither a built-in function nor a declared `function`/`utility`/`production`, "
          "or passes a different number of arguments than it takes, or a function calls itself, directly or "
          "through another (calls are inlined: recursion is not supported).",
          "See the list of built-in functions in docs/language.md."),
    # ---------------------------------------------------------------- shapes and indices
    Entry("E301", "wrong number of indices",
          "A quantity is indexed with more or fewer indices than it has dimensions.",
          "A quantity of a population takes that population's index, a pair quantity takes two."),
    Entry("E302", "index of the wrong population",
          "A quantity of one population is indexed by the index of another, e.g. a firm price `p[j]` "
          "with a consumer index `j`.",
          "Use an index bound to the right population, or reduce over it first."),
    Entry("E303", "reduction over the wrong population",
          "A reduction binds its variable to a population, but the body uses the variable to index "
          "quantities of another population, or does not use it at all.",
          "Reduce over the population whose quantities the body indexes."),
    Entry("E304", "index that is not a member of the population",
          "A quantity of a population is indexed by something that is not a member of it: an action that "
          "chooses a member of a different population (e.g. `employer ∈ Firm` indexing a consumer "
          "quantity), or a number such as a state, a parameter or a formula (`wage[partner[j]]` with a "
          "real-valued state `partner`).",
          "Index by an index variable of the population, an action declared `in` the population, or an "
          "integer."),
    Entry("E305", "equation shape mismatch",
          "The right-hand side depends on an index that the left-hand side does not bind, the left-hand "
          "side names one index twice (`x[j, j] = ...`; a pairwise quantity takes two index names of the "
          "population, `agent W[n] index j, k`), or the value of a declaration does not have the declared "
          "shape.",
          "Bind the index on the left (`x[i] = ...`), or reduce over it on the right."),
    Entry("E306", "array length does not match population size",
          "An array literal gives a per-agent value but has a different length than the population.",
          "Give exactly one value per member."),
    Entry("E308", "list, matrix or string where a number is expected",
          "A list `[a, b, c]` gives one value per member only as the whole value of a `param` or of a state's "
          "initial value in an agent block, and its entries must be compile-time numbers; a list or matrix is a "
          "table only as the value of a `const`; a string is a value only in the `train` section. Anywhere "
          "else (inside a formula, a reward, an observation, a draw, a function, the curriculum, an "
          "economy-wide state) it has no meaning as one number.",
          "For a table of numbers declare `const v = [a, b, c]` and read one entry `v[k]`; for a per-member "
          "formula write it with the index (`param w = 1 + 2 * j`)."),
    Entry("E310", "bad vector or matrix constant, or index into one",
          "A vector (`[a, b, c]`) or matrix (`[a b; c d]`) constant has entries that are not compile-time "
          "values or rows of different lengths; or it is indexed with the wrong number of indices, or by "
          "something that is not a whole number provably inside its length (a literal, a state declared "
          "`in lo:hi` or `in Pop`, a member-choosing action, a `Categorical` draw).",
          "Index a vector with one whole-number value, a matrix with two, inside 0 .. length - 1."),
    Entry("E311", "integer-valued state out of its range",
          "A state declared `in lo:hi` (whole numbers) or `in Pop` (a member of Pop) gets an initial value "
          "or a transition that is not provably a whole number inside that range.",
          "Give it a whole-number value: a literal, another such state, `clamp(x, lo, hi)` of whole numbers, "
          "or a `Categorical` draw."),
    # ---------------------------------------------------------------- timing
    Entry("E401", "cycle among step equations",
          "Step quantities depend on each other in a cycle, so there is no order to compute them in.",
          "Break the cycle: one of the quantities must use a state (last step's value) instead."),
    Entry("E402", "value used before it is known",
          "A step equation reads a quantity, or the next value of a state, that is only defined later "
          "in the step; or reads `next` values at all.",
          "Equations run in the order written: move the definition above its first use."),
    Entry("E403", "observation of a value not yet known",
          "An observation uses an action or a step quantity, which are only known after all agents "
          "have acted. Agents observe the state at the start of the step; with stages, an agent type "
          "also observes the actions and step quantities of the stages before its own.",
          "Observe states, parameters and constants, make the quantity a state, or let the observer act in a "
          "later stage (the message names it)."),
    Entry("E405", "action used before its stage",
          "A step equation of one stage reads an action chosen in a later stage of the period.",
          "Move the equation below the `stage` line of the action's agent type."),
    Entry("E406", "empty stage",
          "A `stage name:` line lists no agent type, so nothing happens in it.",
          "List the agent types that act in the stage (`stage lead: Leader`), or remove the line."),
    Entry("E407", "invalid stage list",
          "A stage lists a name that is not an agent type, an agent type is listed in two stages, an agent "
          "type with actions is in no stage, or two stages have one name.",
          "Each agent type that acts is listed in exactly one stage; stage names are distinct."),
    # ---------------------------------------------------------------- structure
    Entry("E501", "state without exactly one transition",
          "Every state needs exactly one `next x = ...` equation in the step section.",
          "Add the missing transition (`next x = x` keeps it constant) or remove the duplicate."),
    Entry("E502", "action never used",
          "An action is declared but no step equation or reward depends on it, so it cannot matter.",
          "Use it in the step section, or remove it."),
    Entry("E503", "agent type without a reward",
          "Every agent type needs one `reward` declaration.",
          "Add `reward <expression>` to the agent block."),
    Entry("E504", "transition of something that is not a state",
          "`next x = ...` is only for declared states.",
          "Declare `x` as a state of its agent, or drop `next` to define a step quantity."),
    Entry("E505", "missing or invalid horizon",
          "A model needs exactly one `horizon N` with N a positive whole number of steps.",
          "Add `horizon 10` (for example) at the model level."),
    Entry("E506", "declaration in the wrong place",
          "Parameters, actions, observations and rewards belong in agent blocks; horizon and functions at model "
          "level. A state may stand in either (at model level it is economy-wide).",
          "Move the declaration."),
    Entry("E507", "invalid action domain",
          "An action grid is empty, has a non-constant value, or a range whose step does not reach.",
          "Use a set `{a, b, c}`, a range `a:b` or `a:step:b` of constants, or a population name."),
    Entry("E510", "continuous action with an infinite bound",
          "An interval action `in [lo, hi]` is drawn from a bounded distribution, so both ends must be "
          "finite.",
          "Give the interval finite ends (`in [0, 100]`), in the action's unit."),
    Entry("E511", "empty continuous action",
          "An interval action's lower bound is not below its upper bound.",
          "Write `[lo, hi]` with lo < hi; a value that cannot vary is a constant, not an action."),
    Entry("E512", "joint action mixing an interval and a grid",
          "A joint action `(a, b) in X × Y` is either all intervals (several continuous values) or all "
          "grids (one categorical choice over the product).",
          "Declare the continuous and the discrete components as separate actions."),
    Entry("W501", "unused declaration",
          "A constant or parameter is declared but never used.",
          "Remove it, or use it."),
    # ---------------------------------------------------------------- units
    Entry("E601", "unit mismatch",
          "Both sides of `+`, `-`, a comparison, `min`/`max`/`ifelse` branches or an equation must have "
          "the same unit. A name declared without a unit is a pure number (so `price * sold - cost` with "
          "`cost::money/goods` is an error, and so is `stock - buy` with an unannotated action `buy`). "
          "A `Normal` draw has the unit of its mean and σ must share it; the bounds of `Uniform` share one unit.",
          "Convert one side (multiply by a price, a wage ...), or declare the unit the name has "
          "(`action buy::goods in 0:2`)."),
    Entry("E602", "unit where a pure number is needed",
          "Exponents, and the arguments of log, exp and friends, must be dimensionless; so must the "
          "parameters of `LogNormal` (log scale) and probabilities (`Bernoulli`, `Categorical`).",
          "Divide by a reference quantity of the same unit first."),
    Entry("E110", "a value with a unit raised to an infinite power",
          "An exponent that is a constant equal to `Inf`, `-Inf` or NaN applied to a value with a unit "
          "(`c^(-Inf)` with `c::money/goods`): the result is 0, 1 or infinite whatever the unit, so no unit "
          "describes it (a pure number to such a power is allowed: `0.5^Inf` is 0).",
          "Make the base a pure number first (`(c / c0)^k` with `c0` a reference price), or use a finite "
          "exponent."),
    Entry("E603", "unknown unit",
          "A unit annotation uses a name outside the unit vocabulary.",
          "Base units: money, goods, hours, capital, utils, period, and 1 (dimensionless)."),
    # ---------------------------------------------------------------- domains
    Entry("E701", "argument possibly outside the function's domain",
          "`log`, `sqrt` or a fractional power is applied to something not provably non-negative "
          "under the declared bounds.",
          "Declare bounds (`in [0, Inf]`) on the states or parameters involved, or guard with "
          "`max(x, 0)`."),
    Entry("E702", "division by something that can be zero",
          "A denominator is not provably non-zero under the declared bounds and the surrounding "
          "`ifelse` guards.",
          "Guard it: `ifelse(D > 0, y / D, 1)`, or declare a positive lower bound."),
    Entry("E703", "value outside its declared bounds",
          "`in [lo, hi]` is a promise the checks reason with, and nothing clips to it at run time, so the "
          "values a declaration gives must keep it: a state's initial value, a parameter's value (each entry "
          "of a list, each member of a formula of the index) and every draw of a parameter's distribution "
          "(`Normal` draws any real number). A value that is outside, or that intervals and SymPy cannot "
          "prove inside (a formula of drawn parameters), is an error; so are empty bounds (lo > hi).",
          "Make the value lie inside (`clamp(x, lo, hi)` does, provably), widen the bounds, or choose a "
          "distribution whose draws they hold (`LogNormal` in `[0, Inf]`)."),
    Entry("E704", "one-hot observation with too many columns",
          "`observe onehot(x)` gives one column per value x can take: the members of its population, or 0 … hi "
          "of a state declared `in 0:hi`. Above 100,000 columns (the limit of an action's choices) every "
          "observation row would exhaust the memory; a range that large is nearly always a typo or a count.",
          "Observe the value as a number (`observe x[j]`), or declare a smaller range."),
    Entry("E710", "distribution parameter outside its domain",
          "A draw inside the step has a parameter that can leave its domain under the declared bounds: a "
          "standard deviation that is not provably positive, a probability not provably in [0, 1], a "
          "`Uniform(lo, hi)` whose lo can exceed hi.",
          "Declare bounds on what the parameter uses, or guard it (`max(σ, 0.01)`, `clamp(p, 0, 1)`)."),
    Entry("E711", "probabilities that do not sum to 1",
          "The probabilities of a `Categorical` draw, or a row of the transition matrix it draws from, do "
          "not sum to 1 (or have an entry outside [0, 1]).",
          "Fix the row; give the last category `1 - (p1 + ... )` if the others vary."),
    Entry("E712", "unknown distribution or wrong parameters in a draw",
          "A step equation `x ~ Dist(...)` names a distribution a step cannot draw from, or gives it the "
          "wrong number of parameters. Draws: Normal(mean, sd), LogNormal(mu, sigma), Uniform(lo, hi), "
          "Bernoulli(p), Categorical(p1, ..., pn) or Categorical(P[i, :]).",
          "See the draws section of docs/language.md."),
    # ---------------------------------------------------------------- economics
    Entry("W801", "utility not provably increasing and concave",
          "A `utility` function could not be shown to be increasing and concave in each consumption "
          "argument over its domain.",
          "Check the formula; if it is intended, write it as a plain `function`."),
    Entry("W802", "production not provably increasing",
          "A `production` function could not be shown to be non-decreasing in each input.",
          "Check the formula and the bounds of its parameters."),
    # ---------------------------------------------------------------- accounting
    Entry("E901", "unbalanced money flow",
          "The changes of all money budgets do not add up to the declared external flows: some money "
          "leaves one budget without arriving in another (Walras' law fails).",
          "Add the missing receipt or payment, or declare the flow in the `accounting` section with "
          "`external name = ...`."),
    # ---------------------------------------------------------------- curriculum and training
    Entry("E1001", "invalid curriculum item",
          "A curriculum item names an unknown agent type, action or constant, or uses names other than "
          "`e` (iteration), `age` (iterations since the type started training), constants and the "
          "type's action components.",
          "See the curriculum section of docs/language.md."),
    Entry("E1002", "invalid training setting",
          "A `train` setting is unknown or has a value of the wrong type.",
          "See `econdsl train --help` and the train section of docs/language.md for the settings."),
    Entry("E1010", "training setting outside its allowed range",
          "A `train` setting has the right type but a value no run can use: `clip`, `lr`, `reward_scale` and "
          "`obs_clip` must be > 0, `entropy`, `value_coef`, `max_grad_norm`, `threads` and `steps` ≥ 0, `gamma` "
          "and `gae_lambda` in [0, 1], and the sizes have upper limits (`envs` ≤ 1,000,000, layer widths ≤ "
          "65,536, `seed` < 2^32 …); the message names the setting and its range.",
          "Use a value inside the range the message gives."),
    Entry("E1030", "malformed observation scales",
          "The `obs_scale` setting is not a comma-separated list of `name: scale` with positive numbers.",
          'Write e.g. `obs_scale = "p: 2500, w: 44"`.'),
    Entry("W1010", "setting without effect",
          "A `train` setting cannot take effect with the other settings of its block (the `train` section "
          "alone, or with the preset it is written in): for example `digits` without `obs_norm = \"digits\"` "
          "or `\"scaled\"`, `obs_scale` without `obs_norm = \"scaled\"`, `gae_lambda` with "
          "`returns = \"monte_carlo\"`, or `obs_clip` with `obs_norm = \"scaled\"` or `\"none\"`. "
          "The message names the setting that disables it.",
          "Set the enabling setting in the same block, move the setting into the preset that enables it, "
          "or remove it."),
    Entry("E1020", "`allow` condition that cannot narrow a continuous action",
          "An `allow` line on a continuous action narrows its interval, so its condition must be bounds on "
          "the action: comparisons `x <= expr`, `x >= expr` (or `<`, `>`, either side) joined by `&&`, "
          "where `expr` does not mention `x`.",
          "Write the condition as bounds, e.g. `allow Firm if price <= 1000 + 1500 * e / N`."),
)


def explain(code: str) -> str | None:
    e = CATALOGUE.get(code.upper())
    if e is None:
        return None
    kind = "warning" if e.code.startswith("W") else "error"
    text = f"{e.code}: {e.title} ({kind})\n\n{e.explanation}\n\nHow to fix: {e.fix}\n"
    if e.example:
        text += f"\nExample:\n{e.example}\n"
    return text


_FAMILIES = {
    1: "Syntax and files", 2: "Names", 3: "Shapes and indices", 4: "Timing", 5: "Structure", 6: "Units",
    7: "Domains", 8: "Economics", 9: "Accounting", 10: "Curriculum and training",
}


def _family(code: str) -> str:
    return _FAMILIES.get(int(code[1:]) // 100, "Other")


def markdown() -> str:
    """The whole catalogue as Markdown (``econdsl explain --markdown``; docs/language.md embeds it)."""
    out: list[str] = []
    family = None
    for e in sorted(CATALOGUE.values(), key=lambda e: (int(e.code[1:]) // 100, e.code[0] == "W", int(e.code[1:]))):
        f = _family(e.code)
        if f != family:
            out += ["", f"### {f}", ""]
            family = f
        kind = "warning" if e.code.startswith("W") else "error"
        out.append(f"- **{e.code}** {e.title} ({kind}). {e.explanation} *Fix:* {e.fix}")
    return "\n".join(out).strip() + "\n"

"""Generated programs: claims checked on programs no seed writes, against an oracle that is no engine.

A *program* is a few steps of the seeds' operations over leaves: ``+ - * /`` between tensors of one
shape and with Python floats on either side (every operand a tensor that may be tracked), a row
broadcast over a matrix (``broadcast``: the seeds' ``x @ W + b``), ``t ** 2`` and ``t ** 3``, unary
``-``, relu, full sums and means, matmul in every vector/matrix combination, transposes (the
non-contiguous views of strided engines), reshapes, conv2d and max_pool2d on inputs of both signs,
and the seeds' losses. Leaves have random shapes and values of both signs; a random subset of them
is tracked; steps reuse leaves and results, so leaves meet in one operation, are used several times
and branches join. ``strategy.programs()`` is the Hypothesis strategy that draws them, only from the
operations it is given: ``operations.operations_of(B)``, those the engine has (a missing one shrinks the
program space, it never makes a claim not applicable), or the core vocabulary plus the one operation
a claim is about.

Hypothesis draws a program's structure and the seed of the generator that draws its values, shapes
and which nodes meet (drawing each number through Hypothesis would cost most of a test's time).

The oracle (``oracle.evaluate``) interprets a program in numpy float64 with its own reverse mode, one
vector-Jacobian product per operation; tests/test_programs_oracle.py checks it against finite
differences. ``running.run`` interprets the same
program through the adapter ``B``, noting the operations it uses that are no adapter method (``**
3``, broadcasting) where the adapter notes the methods (``B.called``): a test that fails on a program
is blocked where the claim of one of its operations fails (prerequisites.py).

A program's ``repr`` is the program itself, as a few lines of Python an engine author can paste
(``B`` is their adapter, ``device`` a device): Hypothesis prints it as the falsifying example of a
failing test, with the seed or ``@reproduce_failure`` blob that draws it again.

Modules: ``operations`` (the table of operations), ``program`` (leaves, steps, the printed form),
``oracle`` (the numpy reverse mode, tolerances by size and dtype), ``running`` (a program through
``B``), ``strategy`` (the Hypothesis strategy).
"""

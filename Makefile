# The two commands of the README. Both work on a fresh machine (they install what is missing).
.PHONY: demo test
demo:
	scripts/demo
test:
	scripts/test

# expect: hpo.ranges[1]: range 'eta': min (0.5) must be below max (0.3)
hpo = {
  ranges = [
    { name = "max_depth", type = "integer", min = 3, max = 8 },
    { name = "eta", type = "continuous", min = 0.5, max = 0.3 },
  ]
}

# expect: dataset: target 'age' is not one of the columns
dataset = {
  target = "age"
}

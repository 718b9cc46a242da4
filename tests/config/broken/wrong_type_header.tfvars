# expect: dataset.header: expected true or false, found 'yes'
dataset = {
  header = "yes"
}

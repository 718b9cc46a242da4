# expect: dataset.columns[1].type: expected one of 'integer', 'float' or 'categorical', found 'text'
dataset = {
  columns = [
    { name = "record_id", type = "categorical" },
    { name = "sex", type = "text" },
    { name = "rings", type = "integer" },
  ]
}

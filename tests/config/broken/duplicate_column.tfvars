# expect: dataset: column names must be unique, duplicated: length
dataset = {
  columns = [
    { name = "record_id", type = "categorical" },
    { name = "length", type = "float" },
    { name = "length", type = "float" },
    { name = "rings", type = "integer" },
  ]
}

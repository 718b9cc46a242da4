# expect: model.trehshold: unknown key
model = {
  trehshold = 1
}

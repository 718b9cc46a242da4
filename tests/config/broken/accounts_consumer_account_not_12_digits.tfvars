# expect: accounts.consumers[0].account_id: a 12-digit AWS account id, found '2222'
accounts = {
  role      = "registry"
  consumers = [{ account_id = "2222", environment = "staging" }]
}

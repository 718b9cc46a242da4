# expect: accounts: consumers applies only with role = registry, found role = standalone
accounts = {
  consumers = [{ account_id = "222222222222", environment = "staging" }]
}

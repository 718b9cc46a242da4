# expect: regoin: unknown key (did you mean 'region'?)
regoin = "eu-west-1"

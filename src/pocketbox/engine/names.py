"""Docker-style container names: adjective_surname, after scientists and engineers."""
import os

ADJECTIVES = [
    "admiring", "amazing", "angry", "awesome", "blissful", "bold", "brave", "busy", "charming", "clever",
    "compassionate", "competent", "confident", "cool", "dazzling", "determined", "eager", "ecstatic",
    "elastic", "elegant", "epic", "exciting", "fervent", "focused", "friendly", "frosty", "funny", "gallant",
    "gifted", "goofy", "gracious", "happy", "hopeful", "hungry", "inspiring", "intelligent", "jolly", "jovial",
    "keen", "kind", "laughing", "loving", "lucid", "magical", "modest", "musing", "nice", "nifty", "nostalgic",
    "optimistic", "peaceful", "pensive", "practical", "priceless", "quirky", "quizzical", "relaxed", "reverent",
    "romantic", "serene", "sharp", "silly", "sleepy", "stoic", "sweet", "tender", "thirsty", "trusting",
    "upbeat", "vibrant", "vigilant", "wizardly", "wonderful", "youthful", "zealous", "zen",
]
SURNAMES = [
    "agnesi", "allen", "babbage", "bardeen", "bartik", "bell", "boole", "borg", "brattain", "cerf", "clarke",
    "curie", "darwin", "diffie", "dijkstra", "easley", "einstein", "euclid", "faraday", "fermat", "feynman",
    "franklin", "galileo", "gauss", "goldberg", "goodall", "hamilton", "hawking", "hellman", "hodgkin",
    "hopper", "hypatia", "johnson", "kalam", "kare", "keller", "kepler", "knuth", "lamarr", "lamport",
    "leavitt", "liskov", "lovelace", "mayer", "mccarthy", "meitner", "mirzakhani", "morse", "newton", "noether",
    "pascal", "pasteur", "perlman", "pike", "poincare", "raman", "ritchie", "rosalind", "shannon", "sinoussi",
    "stallman", "swartz", "tesla", "thompson", "torvalds", "turing", "varahamihira", "wilson", "wozniak",
    "wright", "yalow", "yonath",
]


def random_name() -> str:
    """Collisions are retried by the caller. (Not the random module: its import costs a `run` ~2 ms.)"""
    a, b = os.urandom(2)
    return f"{ADJECTIVES[a % len(ADJECTIVES)]}_{SURNAMES[b % len(SURNAMES)]}"
